"""Server provisioning for Debian and Ubuntu (apt-based): system set-up and package components."""
