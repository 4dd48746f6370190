package vmlab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// qmp is a client of QEMU's machine protocol (QMP) on a unix socket: one
// command at a time, events skipped.
type qmp struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialQMP(path string) (*qmp, error) {
	var conn net.Conn
	var err error
	for i := 0; i < 100; i++ {
		if conn, err = net.Dial("unix", path); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: QMP %s: %v", ErrQEMU, path, err)
	}
	q := &qmp{conn: conn, r: bufio.NewReader(conn)}
	if _, err := q.r.ReadBytes('\n'); err != nil { // the greeting
		conn.Close()
		return nil, fmt.Errorf("%w: QMP greeting: %v", ErrQEMU, err)
	}
	if _, err := q.execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) execute(cmd string, args map[string]any) (json.RawMessage, error) {
	req := map[string]any{"execute": cmd}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	_ = q.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("%w: QMP %s: %v", ErrQEMU, cmd, err)
	}
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("%w: QMP %s: %v", ErrQEMU, cmd, err)
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
			Event string `json:"event"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("%w: QMP %s: %v", ErrQEMU, cmd, err)
		}
		switch {
		case resp.Event != "":
			continue
		case resp.Error != nil:
			return nil, fmt.Errorf("%w: QMP %s: %s: %s", ErrQEMU, cmd, resp.Error.Class, resp.Error.Desc)
		default:
			return resp.Return, nil
		}
	}
}

func (q *qmp) close() { q.conn.Close() }

// QMP runs a QMP command on the VM's QEMU.
func (vm *VM) QMP(cmd string, args map[string]any) (json.RawMessage, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.qmp == nil {
		q, err := dialQMP(vm.qmpPath())
		if err != nil {
			return nil, err
		}
		vm.qmp = q
	}
	return vm.qmp.execute(cmd, args)
}

// Requests from the guest to the host, through the job folder: the guest
// writes req/NAME holding one line, the host carries it out and writes
// req/NAME.done holding "ok" or "error: ...". Guest tests use them to
// change what only QEMU can: a NIC's link, or the NIC itself.
//
//	link N on|off   set_link on NIC N's netdev (the cable)
//	unplug N        device_del NIC N (a hot-unplug the guest sees)
const requestDir = "req"

func (vm *VM) serveRequests(stop <-chan struct{}) {
	dir := filepath.Join(vm.job.Dir, requestDir)
	_ = os.MkdirAll(dir, 0o777)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			name := e.Name()
			if strings.Contains(name, ".") {
				continue
			}
			done := filepath.Join(dir, name+".done")
			if _, err := os.Stat(done); err == nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !strings.HasSuffix(string(b), "\n") {
				continue // not written in full yet
			}
			res := "ok"
			if err := vm.request(strings.Fields(string(b))); err != nil {
				res = "error: " + err.Error()
			}
			_ = os.WriteFile(done+".tmp", []byte(res+"\n"), 0o644)
			_ = os.Rename(done+".tmp", done)
		}
	}
}

func (vm *VM) request(f []string) error {
	switch {
	case len(f) == 3 && f[0] == "link" && (f[2] == "on" || f[2] == "off"):
		_, err := vm.QMP("set_link", map[string]any{"name": "net" + f[1], "up": f[2] == "on"})
		return err
	case len(f) == 2 && f[0] == "unplug":
		_, err := vm.QMP("device_del", map[string]any{"id": "nic" + f[1]})
		return err
	}
	return fmt.Errorf("unknown request %q", strings.Join(f, " "))
}
