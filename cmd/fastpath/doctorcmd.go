package main

import (
	"encoding/json"
	"fmt"

	"github.com/fastpathnet/fastpath/internal/doctor"
	"github.com/fastpathnet/fastpath/port"
	"github.com/spf13/cobra"
)

type doctorFlags struct {
	dev, netns string
	frameSize  int
	queues     string
	json       bool
}

func newDoctorCommand() *cobra.Command {
	var f doctorFlags
	cmd := &cobra.Command{
		Use:   "doctor --dev IFACE",
		Short: "Check a device, the kernel and the host for AF_XDP, and say what to fix",
		Long: `doctor reads what fastpath depends on and reports each finding as ok, info,
warn or fail, with the command that fixes it: the kernel version and the
AF_XDP features it implies; the device's state, driver, queues, MTU against
the frame size; its XDP features (the netdev netlink family: native
redirect, zero-copy, multi-buffer); a program already attached; veth's peer
(its XDP program, and its TX checksum offload, which sends partial checksums);
huge pages; the busy-poll knobs; the IRQ affinity of its queues; the queues
RSS spreads flows over (against --queues); ntuple filters; the memlock
limit. It changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return doctorMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device to check (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device")
	fl.IntVar(&f.frameSize, "frame-size", 4096, "the UMEM frame size to check the MTU against")
	fl.StringVar(&f.queues, "queues", "", "the queues engines will bind, a list such as 0,1 (or all): doctor warns about RSS queues outside it")
	fl.BoolVar(&f.json, "json", false, "print the report as one JSON object on stdout")
	return cmd
}

// doctorReport is doctor's JSON.
type doctorReport struct {
	Device   string           `json:"device"`
	Kernel   string           `json:"kernel"`
	Driver   string           `json:"driver"`
	Findings []doctor.Finding `json:"findings"`
	Summary  map[string]int   `json:"summary"`
	Facts    doctor.Input     `json:"facts"`
}

func doctorMain(cmd *cobra.Command, f doctorFlags) error {
	if f.dev == "" {
		return fmt.Errorf("--dev is required: the device to check")
	}
	if f.frameSize != 2048 && f.frameSize != 4096 {
		return fmt.Errorf("--frame-size %d: use 2048 or 4096, the UMEM frame sizes AF_XDP takes", f.frameSize)
	}
	var queues []int
	if f.queues != "" && f.queues != "all" {
		var err error
		if queues, err = parseQueues(f.queues); err != nil {
			return err
		}
	}
	var in doctor.Input
	if err := port.InNetns(f.netns, func() error {
		in = doctor.Gather(f.dev, f.frameSize)
		return nil
	}); err != nil {
		return err
	}
	switch f.queues {
	case "":
	case "all":
		for q := range max(in.RXQueues, 1) {
			in.Queues = append(in.Queues, q)
		}
	default:
		in.Queues = queues
	}
	findings := doctor.Check(in)
	sum := doctor.Summary(findings)
	if f.json {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(doctorReport{Device: f.dev, Kernel: in.Kernel, Driver: in.Driver,
			Findings: findings, Summary: sum, Facts: in}); err != nil {
			return err
		}
	} else {
		w := cmd.OutOrStdout()
		for _, x := range findings {
			fmt.Fprintf(w, "%-4s  %-16s %s\n", x.Status, x.Check, x.Message)
			if x.Fix != "" && x.Status != doctor.OK {
				fmt.Fprintf(w, "      %-16s fix: %s\n", "", x.Fix)
			}
		}
		fmt.Fprintf(w, "%d ok, %d info, %d warn, %d fail\n", sum[doctor.OK], sum[doctor.Info], sum[doctor.Warn], sum[doctor.Fail])
	}
	if sum[doctor.Fail] > 0 {
		return fmt.Errorf("doctor: %d check(s) failed on %s: see the fixes above", sum[doctor.Fail], f.dev)
	}
	return nil
}
