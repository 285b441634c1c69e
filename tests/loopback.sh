#!/bin/sh
# Run a command in a loopback-only network namespace: the distributed-training tests start rendezvous
# servers (torch's TCPStore, TF's gRPC) that listen on all interfaces. Where no namespace can be made
# (no privileges), the command runs as is, and this says so.
if unshare -n true 2>/dev/null && command -v ip >/dev/null; then
  # A second loopback address: glibc's AI_ADDRCONFIG counts IPv4 as configured only with an address
  # other than 127.0.0.1, and SLURM's daemons resolve their addresses with it.
  exec unshare -n sh -c 'ip link set lo up && { ip addr add 127.0.0.2/32 dev lo 2>/dev/null || true; } && exec "$@"' sh "$@"
fi
echo "tests/loopback.sh: cannot create a network namespace; training tests' servers listen on all interfaces" >&2
exec "$@"
