"""fabulaws-config.yml: loading, validation and the 1.x ``(key1, key2)`` lookup rule."""

from .loader import CONFIG_FILE_NAMES, find_config_file, load_settings
from .schema import DbSettings, InstanceSettings, Settings

__all__ = ["CONFIG_FILE_NAMES", "DbSettings", "InstanceSettings", "Settings", "find_config_file", "load_settings"]
