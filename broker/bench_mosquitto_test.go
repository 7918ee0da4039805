package broker

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pilotx/dispatchhub/internal/testenv"
)

// mosquittoMissing is why BenchmarkRealtimeTCP's mosquitto scenarios are skipped.
const mosquittoMissing = "mosquitto not installed: apt-get install mosquitto"

// mosquittoConf is the configuration of the Mosquitto baseline; %d is its port. Besides the
// listener, it differs from Mosquitto's defaults where they would lose or delay fixes at
// this load, which mochi does not:
//
//   - max_inflight_messages: the QoS 1 messages in flight to a client (and accepted from
//     one) before its PUBACKs. The default, 20, applies to MQTT v5 clients that send no
//     Receive Maximum, such as the dispatcher, which receives every fix (5,000/s with 10,000
//     drivers). 65535 is the largest Receive Maximum there is, the one MQTT v5 gives a
//     client that sends none.
//   - max_queued_messages: the QoS 1 messages queued for a client beyond those in flight,
//     1,000 by default; further ones are dropped. 100,000 holds 20 s of every fix at 10,000
//     drivers.
//   - set_tcp_nodelay: Mosquitto leaves Nagle's algorithm on by default, which holds small
//     writes back for the peer's delayed ACK; Go's connections (mochi's, the generator's)
//     have it off.
//
// Nothing is persisted and only warnings and errors are logged (on stderr, kept for a
// failure's message). Started as root, Mosquitto drops its privileges to the mosquitto user
// after reading this file and binding the port; it needs nothing else, so `user root` is not
// set.
const mosquittoConf = `listener %d 127.0.0.1
allow_anonymous true
max_connections -1
max_inflight_messages 65535
max_queued_messages 100000
set_tcp_nodelay true
persistence false
log_dest stderr
log_type error
log_type warning
connection_messages false
`

// mosquittoPath is the mosquitto executable: on $PATH, else where Debian installs it
// (/usr/sbin, which is not on every user's PATH); "" when there is none.
func mosquittoPath() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	if p, err := exec.LookPath("/usr/sbin/mosquitto"); err == nil {
		return p
	}
	return ""
}

// startMosquittoTarget runs Mosquitto in a process of its own with mosquittoConf for n
// drivers, or skips the benchmark when it is not installed. It is stopped with SIGTERM (and
// waited for) when the benchmark ends.
func startMosquittoTarget(b *testing.B, n int) target {
	bin := mosquittoPath()
	if bin == "" {
		b.Skip(mosquittoMissing)
	}
	inheritOpenFilesLimit(b, n+1+64) // the drivers, the dispatcher and some slack

	port := testenv.FreePort(b)
	conf := filepath.Join(b.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, mosquittoConf, port), 0o644); err != nil {
		b.Fatal(err)
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{}) // closed when it has exited, with its error in exitErr
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	b.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			b.Errorf("mosquitto did not stop within 10s of SIGTERM: %v\n%s", exitErr, out.tail())
		}
	})

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	awaitListening(b, addr, func() error {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening on %s: %v\n%s", bin, addr, exitErr, out.tail())
		default:
			return nil
		}
	})
	b.Logf("%s (pid %d), %s", mosquittoVersion(bin), cmd.Process.Pid, addr)
	return target{url: brokerURL(ListenerTCP, addr, ""), pid: cmd.Process.Pid}
}

// inheritOpenFilesLimit makes the processes this one starts inherit its limit of open files
// and checks that need descriptors fit under it. At start-up Go raises its own soft
// RLIMIT_NOFILE to the hard limit, but gives the processes it starts the original soft limit
// (often 1024) unless the limit was set since, and Mosquitto keeps the soft limit it starts
// with.
func inheritOpenFilesLimit(b *testing.B, need int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("getrlimit RLIMIT_NOFILE: %v", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < uint64(need) {
		b.Fatalf("RLIMIT_NOFILE is %d: Mosquitto needs about %d descriptors; raise the hard limit (ulimit -Hn)", lim.Cur, need)
	}
}

// mosquittoVersion is the first line `mosquitto -h` prints ("mosquitto version 2.0.11").
func mosquittoVersion(bin string) string {
	out, _ := exec.Command(bin, "-h").CombinedOutput() // exits 3 after the usage
	line, _, _ := strings.Cut(string(out), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return bin
	}
	return line
}
