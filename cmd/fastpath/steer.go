package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/spf13/cobra"
)

func newSteerCommand() *cobra.Command {
	var dev, ns string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "steer --dev IFACE",
		Short: "Show the XDP program on a device, and for fastpath's, its rules and counters",
		Long: `steer reads the XDP program attached to a device. For fastpath's steering
program it prints the attach mode, the default action, each rule with its
packet and byte counters, and the program's per-action counters, read from
the program's maps: it works while another fastpath process runs the engine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dev == "" {
				return fmt.Errorf("--dev is required: the device to inspect (ip link show lists them)")
			}
			var r *steering.Report
			err := port.InNetns(ns, func() (err error) { r, err = steering.Inspect(dev); return err })
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			printReport(cmd.OutOrStdout(), r)
			return nil
		},
	}
	cmd.Flags().StringVar(&dev, "dev", "", "device to inspect (required)")
	cmd.Flags().StringVar(&ns, "netns", "", "named network namespace of the device (as in ip netns exec)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printReport(w io.Writer, r *steering.Report) {
	switch {
	case !r.Attached:
		fmt.Fprintf(w, "%s: no XDP program\n", r.Device)
		return
	case !r.Fastpath:
		fmt.Fprintf(w, "%s: program %d (%q) in %s mode: not fastpath's\n", r.Device, r.ProgramID, r.ProgramName, r.Mode)
		return
	}
	fmt.Fprintf(w, "%s: %s (program %d), %s mode, default %s, %d rules\n", r.Device, r.ProgramName, r.ProgramID, r.Mode, r.Default, len(r.Rules))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ID\tNAME\tMATCH\tACTION\tPACKETS\tBYTES\t")
	for _, ru := range r.Rules {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t\n", ru.ID, ru.Name, ru.Match, ru.Action, ru.Packets, ru.Bytes)
	}
	tw.Flush()
	fmt.Fprintln(w, "counters:")
	names := make([]string, 0, len(r.Counters))
	for n := range r.Counters {
		names = append(names, n)
	}
	order := map[string]int{}
	for i, n := range steering.Names {
		order[n] = i
	}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, n := range names {
		c := r.Counters[n]
		fmt.Fprintf(w, "  %-16s %12d packets %14d bytes\n", n, c.Packets, c.Bytes)
	}
}
