package sqlitestore_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oncofhir/oncofhir/fhir"
	"github.com/oncofhir/oncofhir/fhir/sqlitestore"
	"github.com/oncofhir/oncofhir/fhir/storetest"
)

// childDirEnv names the directory the writer child works in; the child test
// does nothing without it.
const childDirEnv = "SQLITESTORE_DURABILITY_CHILD_DIR"

// durableVersion is the version the child writes: its JSON is derived from
// id and version, so the parent can check it without being told.
func durableVersion(id string, version int) *fhir.Resource {
	at := storetest.Epoch.Add(time.Duration(version) * time.Second)
	return &fhir.Resource{Type: "Observation", ID: id, Version: version, LastUpdated: at, Method: "PUT",
		JSON: fmt.Appendf(nil, `{"resourceType":"Observation","id":%q,"meta":{"versionId":"%d"},"status":"final","valueQuantity":{"value":%d.5}}`,
			id, version, version)}
}

// TestAcknowledgedWritesSurviveSIGKILL runs a child process that writes
// and reports each write only after Write returned, kills it with SIGKILL
// at an arbitrary point, and checks that the reopened store holds every
// write the child reported, including units that shared a commit. (A process crash: the operating system still
// flushes what SQLite wrote. Surviving power loss is what synchronous=FULL
// adds, which a test cannot show.)
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("needs SIGKILL")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDurabilityChild$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	acked := map[string]int{} // id → highest version acknowledged
	record := func(line string) {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ack" {
			return
		}
		v, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("child wrote %q", line)
		}
		acked[f[1]] = max(acked[f[1]], v)
	}
	kill := time.After(700 * time.Millisecond)
	giveUp := time.After(10 * time.Second)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child ended before it was killed: %v\n%s", cmd.Wait(), stderr.String())
			}
			record(line)
		case <-kill:
			if len(acked) >= 20 {
				break wait
			}
			kill = time.After(100 * time.Millisecond) // slow machine: let it write a little more
		case <-giveUp:
			break wait
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	for line := range lines { // what the child printed before it died was acknowledged too
		record(line)
	}
	_ = cmd.Wait()
	if len(acked) == 0 {
		t.Fatalf("the child acknowledged nothing\n%s", stderr.String())
	}

	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	writes := 0
	for id, top := range acked {
		cur, err := s.Read(ctx, "Observation", id)
		if err != nil {
			t.Errorf("acknowledged Observation/%s: %v", id, err)
			continue
		}
		if cur.Version < top {
			t.Errorf("Observation/%s is at version %d, version %d was acknowledged", id, cur.Version, top)
		}
		for v := 1; v <= top; v++ {
			writes++
			got, err := s.VRead(ctx, "Observation", id, v)
			if err != nil {
				t.Errorf("acknowledged Observation/%s version %d: %v", id, v, err)
				continue
			}
			if want := durableVersion(id, v).JSON; !bytes.Equal(got.JSON, want) {
				t.Errorf("Observation/%s version %d: JSON %q, want %q", id, v, got.JSON, want)
			}
		}
	}
	t.Logf("%d acknowledged versions of %d resources survived", writes, len(acked))
}

// TestDurabilityChild is the writer process of
// TestAcknowledgedWritesSurviveSIGKILL. Several writers run at once, so
// their units share commits. Each unit creates one resource and updates
// the writer's previous one; "ack <id> <version>" is printed for both only
// once Write has returned.
func TestDurabilityChild(t *testing.T) {
	dir := os.Getenv(childDirEnv)
	if dir == "" {
		t.Skip("the writer child of TestAcknowledgedWritesSurviveSIGKILL")
	}
	s, err := sqlitestore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stop := time.Now().Add(20 * time.Second) // if the parent never kills it
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				id, prev := fmt.Sprintf("d%d-%d", w, i), fmt.Sprintf("d%d-%d", w, i-1)
				err := s.Write(ctx, func(tx fhir.Tx) error {
					if err := tx.Put(durableVersion(id, 1)); err != nil {
						return err
					}
					if i == 0 {
						return nil
					}
					return tx.Put(durableVersion(prev, 2))
				})
				if err != nil {
					t.Error(err)
					return
				}
				if i > 0 {
					fmt.Fprintf(os.Stdout, "ack %s 1\nack %s 2\n", id, prev)
				} else {
					fmt.Fprintf(os.Stdout, "ack %s 1\n", id)
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
}
