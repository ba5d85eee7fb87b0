#!/bin/sh
# Managed by FabulAWS for {{ deployment }} {{ environment }}; changes are overwritten. Root runs it: it and its
# directory are root's alone.
# This server's own names, for Django's ALLOWED_HOSTS (read by local settings from {{ own_hosts }}): a server
# launched from an image has a new address. Instance metadata through IMDSv2 (a session token first).
set -e
imds=http://169.254.169.254/latest
token=""
for attempt in 1 2 3 4 5; do  # the network may still be coming up at boot
    token=$(curl -sf -m 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$imds/api/token") && break
    sleep 2
done
[ -n "$token" ]
names=""
for key in local-hostname local-ipv4 public-hostname public-ipv4; do
    # a server without a public address answers 404: that name is left out
    if value=$(curl -sf -m 5 -H "X-aws-ec2-metadata-token: $token" "$imds/meta-data/$key") && [ -n "$value" ]; then
        names="$names $value"
    fi
done
printf '%s\n' $names > {{ own_hosts }}.new
chmod 0644 {{ own_hosts }}.new
mv {{ own_hosts }}.new {{ own_hosts }}
