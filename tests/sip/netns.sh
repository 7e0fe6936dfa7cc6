# Sourced first by the tests whose messages name foreign hosts or that need their own DNS
# resolver: the script runs again inside a private network namespace (unshare -n: only
# loopback, brought up here) and mount namespace (unshare -m: a bind mount over
# /etc/resolv.conf stays in it; see own_resolv_conf in lib_sip.sh).  Sets MCX_IN_NETNS.
if [ -z "${MCX_IN_NETNS:-}" ]; then
	command -v unshare >/dev/null || { echo "not ok - unshare (util-linux) is not installed"; exit 1; }
	MCX_IN_NETNS=1 exec unshare -n -m sh "$0" "$@"
fi
ip link set lo up
