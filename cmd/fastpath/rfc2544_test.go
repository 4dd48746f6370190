package main

import (
	"strings"
	"testing"
)

// TestRFC2544Flags: wrong flags are refused before anything is opened,
// each with what to do.
func TestRFC2544Flags(t *testing.T) {
	base := []string{"rfc2544", "--tx-dev", "veth-nope0", "--rx-dev", "veth-nope1", "--dst", "198.19.1.1"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rfc2544", "--rx-dev", "b", "--dst", "198.19.1.1"}, "--tx-dev and --rx-dev are required"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "a", "--dst", "198.19.1.1"}, "must come back on another device"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "b"}, "--dst is required"},
		{[]string{"rfc2544", "--tx-dev", "a", "--rx-dev", "b", "--dst", "2001:db8::1"}, "use an IPv4 address"},
		{append(base, "--sizes", "63"), "from 64 to the MTU's"},
		{append(base, "--sizes", "64,jumbo"), "and imix"},
		{append(base, "--loss", "1"), "a ratio below 1"},
		{append(base, "--loss", "-1%"), "use a percentage"},
		{append(base, "--pdr-loss", "0.5%", "--loss", "1%"), "use more than --loss"},
		{append(base, "--resolution", "0"), "above 0 and below 50%"},
		{append(base, "--resolution", "60%"), "above 0 and below 50%"},
		{append(base, "--trial", "0s"), "positive durations"},
		{append(base, "--confirm", "0"), "1 or more confirmations"},
		{append(base, "--max-rate", "fast"), "use frames/s"},
		{append(base, "--max-rate", "10Gbps"), "give frames/s, or one size"},
		{append(base, "--max-rate", "100k", "--min-rate", "200k"), "use less than --max-rate"},
		{append(base, "--latency", "0,50"), "percentages of the NDR"},
		{append(base, "--flows", "0"), "use 1 to 64511"},
		{append(base, "--gap", "-1s"), "must not be negative"},
		{append(base, "--tx-queues", "x"), "--queues"},
		{append(base, "--mode", "fast"), "--mode"},
		{base, "veth-nope"}, // the receiver's device does not exist
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args[1:], err, tc.want)
		}
	}
}
