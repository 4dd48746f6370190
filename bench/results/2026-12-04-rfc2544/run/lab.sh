set -e
for n in rfc-a rfc-r rfc-b; do ip netns add $n; ip -n $n link set lo up; done
ip link add a0 netns rfc-a type veth peer name ra netns rfc-r
ip link add rb netns rfc-r type veth peer name b0 netns rfc-b
ip -n rfc-a addr add 198.18.1.1/24 dev a0;   ip -n rfc-a link set a0 up
ip -n rfc-r addr add 198.18.1.254/24 dev ra; ip -n rfc-r link set ra up
ip -n rfc-r addr add 198.19.1.254/24 dev rb; ip -n rfc-r link set rb up
ip -n rfc-b addr add 198.19.1.1/24 dev b0;   ip -n rfc-b link set b0 up
ip -n rfc-a route add default via 198.18.1.254
ip -n rfc-b route add default via 198.19.1.254
ip netns exec rfc-r sysctl -qw net.ipv4.ip_forward=1
for x in rfc-a:a0 rfc-r:ra rfc-r:rb rfc-b:b0; do ip netns exec ${x%:*} ethtool -K ${x#*:} tx off >/dev/null; done
ip netns exec rfc-r nft add table ip dut
ip netns exec rfc-r nft add chain ip dut fw '{ type filter hook forward priority 0; }'
ip netns exec rfc-r nft add rule ip dut fw udp dport 9 limit rate over 100000/second burst 250 packets drop
set +e
./fastpath rfc2544 --tx-dev a0 --tx-netns rfc-a --rx-dev b0 --rx-netns rfc-b --dst 198.19.1.1 \
    --sizes 64,512,1518,imix --max-rate 200k --tx-cores 0 --rx-cores 1 --pdr-loss 0.5% --final-trial 5s --loss-curve "$@"
rc=$?
for n in rfc-a rfc-r rfc-b; do ip netns del $n; done
exit $rc
