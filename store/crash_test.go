package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "MAILROOM_STORE_CRASH_CHILD"

// TestCrashChild is the child half of TestCrashRecovery: it writes until
// killed, printing "ok <mailbox> <uid> <tag>" after each append returns.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Dir: dir})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	const a = "crash@example.test"
	if err := s.EnsureAccount(ctx, a, true); err != nil {
		os.Exit(3)
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for g, name := range []string{"INBOX", "Archive", "INBOX", "Sent"} {
		wg.Go(func() {
			m, err := s.MailboxByName(ctx, a, name)
			if err != nil {
				os.Exit(3)
			}
			for i := 0; ; i++ {
				tag := fmt.Sprintf("p%d-g%d-i%d", os.Getpid(), g, i)
				// Some bodies repeat so that reference counts are exercised.
				body := fmt.Sprintf("Subject: %s\r\n\r\nshared body %d\r\n", tag, i%3)
				d, err := s.Append(ctx, m.ID, []byte(body), NewMessage{Prefix: []byte("X-Tag: " + tag + "\r\n")}, 0)
				if err != nil {
					os.Exit(4)
				}
				out.Lock()
				fmt.Printf("ok %s %d %s\n", name, d.UID, tag)
				out.Unlock()
				switch i % 4 {
				case 1:
					s.StoreFlags(ctx, m.ID, []UID{d.UID}, FlagsAdd, ParseFlags([]string{`\Seen`}), nil)
				case 2:
					arch, _ := s.MailboxByName(ctx, a, "Trash")
					s.Copy(ctx, m.ID, []UID{d.UID}, arch.ID, 0)
				}
			}
		})
	}
	wg.Wait()
}

// TestCrashRecovery kills a writing child process at random moments and
// checks, after each restart, that every acknowledged append is present and
// intact and that the store checks clean.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is not short")
	}
	dir := t.TempDir()
	acked := map[string]string{} // tag -> "mailbox uid"
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 20 + rand.IntN(200)
		sc := bufio.NewScanner(stdout)
		n := 0
		deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ok" {
				continue
			}
			acked[f[3]] = f[1] + " " + f[2]
			if n++; n == killAt {
				cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		deadline.Stop()
		cmd.Wait()
		if n < killAt {
			t.Fatalf("round %d: child stopped after %d acks, before the kill", round, n)
		}

		s, err := Open(context.Background(), Options{Dir: dir})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if problems, err := s.Check(context.Background()); err != nil || len(problems) > 0 {
			t.Fatalf("round %d: check: %v %v", round, problems, err)
		}
		for tag, where := range acked {
			var name string
			var uid UID
			fmt.Sscanf(where, "%s %d", &name, &uid)
			m, err := s.MailboxByName(context.Background(), "crash@example.test", name)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := s.Message(context.Background(), m.ID, uid)
			if err != nil {
				t.Fatalf("round %d: acknowledged %s (%s) lost: %v", round, tag, where, err)
			}
			c, err := s.Content(context.Background(), msg)
			if err != nil || !strings.HasPrefix(string(c), "X-Tag: "+tag+"\r\nSubject: "+tag+"\r\n") {
				t.Fatalf("round %d: %s content %q, %v", round, tag, c, err)
			}
		}
		s.Close()
		t.Logf("round %d: killed after %d acks; %d acknowledged messages all present", round, n, len(acked))
	}
}
