#!/bin/sh
# Installs what the VM lab needs on a Debian 12 (bookworm) host: QEMU 10
# from bookworm-backports, read through a source list of its own (the
# host's /etc/apt is not changed), and the tools the guest borrows from the
# host's root: ethtool, xz (module decompression), tshark, iproute2, ping.
set -eu
export DEBIAN_FRONTEND=noninteractive
need=""
command -v ethtool >/dev/null || need="$need ethtool"
command -v xz >/dev/null || need="$need xz-utils"
command -v tshark >/dev/null || need="$need tshark"
command -v ip >/dev/null || need="$need iproute2"
command -v ping >/dev/null || need="$need iputils-ping"
command -v dpkg-deb >/dev/null || need="$need dpkg"
if ! qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'; then
	list=$(mktemp)
	trap 'rm -f "$list"' EXIT
	for s in bookworm bookworm-updates bookworm-backports; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $s main" >>"$list"
	done
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main" >>"$list"
	opts="-o Dir::Etc::SourceList=$list -o Dir::Etc::SourceParts=/dev/null"
	apt-get $opts update -qq
	apt-get $opts install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 $need
elif [ -n "$need" ]; then
	apt-get update -qq
	apt-get install -y -qq $need
fi
qemu-system-x86_64 --version | head -1
