package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMappedBudget is Options.MappedBudget's default.
const DefaultMappedBudget = 16 << 20

// trimInterval is how often the resident mapped pages are measured.
// Under imaptest's 50-client stress the value log's pages were touched at
// 30-60 MB a second, so once a second let them reach twice the budget
// between trims; four times a second holds them near it, for about 5%
// fewer operations (pages handed back and read again).
const trimInterval = 250 * time.Millisecond

// Badger maps its files into the process: the value log (message bodies),
// the memtable logs and the tables. Every page of them that is written or
// read stays in the process's resident set until the kernel needs the
// memory, so RSS grows with the mail that passed through — which
// monitoring reads as a leak and the OOM killer scores as the process's
// own memory. The store keeps the value log's resident pages within
// MappedBudget: every trimInterval it sums them (/proc/self/smaps) and, over
// the budget, asks the kernel to reclaim them (MADV_PAGEOUT; clean pages,
// since every commit is synced, so nothing is written). A body read after
// that comes from the disk again. The tables are small and read all the
// time; the memtable logs are bounded by the memtables (trimming the one
// being written cost a fifth of imaptest's operations per second, 23%
// against 10-15% for the value log alone), so both are left alone.

// mapping is one shared mapping of a value-log file.
type mapping struct {
	start, end uintptr
	rss        int64 // resident bytes
}

// vlogMappings returns the shared mappings of dir's value-log files, read
// from smaps (the smaps text of this process).
func vlogMappings(smaps []byte, dir string) []mapping {
	prefix := filepath.Clean(dir) + "/"
	var out []mapping
	in := false // inside the entry of such a mapping
	sc := bufio.NewScanner(bytes.NewReader(smaps))
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			// start-end perms offset dev inode [path]: a new entry.
			in = false
			if len(fields) < 6 || len(fields[1]) < 4 || fields[1][3] != 's' ||
				!strings.HasPrefix(fields[5], prefix) || !strings.HasSuffix(fields[5], ".vlog") {
				continue
			}
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			out = append(out, mapping{start: uintptr(start), end: uintptr(end)})
			in = true
			continue
		}
		if in && fields[0] == "Rss:" && len(fields) >= 2 {
			kib, _ := strconv.ParseInt(fields[1], 10, 64)
			out[len(out)-1].rss = kib << 10
		}
	}
	return out
}

// trimMapped reclaims the value log's resident pages when they exceed
// budget, and returns how many bytes were resident before.
//
// MADV_PAGEOUT never changes what memory holds (unlike MADV_DONTNEED):
// should a range be unmapped and its addresses reused between reading
// smaps and the call, that memory is at worst paged out, never lost.
func trimMapped(dir string, budget int64) (int64, error) {
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	maps := vlogMappings(smaps, dir)
	var rss int64
	for _, m := range maps {
		rss += m.rss
	}
	if rss <= budget {
		return rss, nil
	}
	for _, m := range maps {
		if m.rss == 0 {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT); e != 0 {
			return rss, e
		}
	}
	return rss, nil
}

// trimLoop runs trimMapped every trimInterval until the store closes.
func (s *Store) trimLoop(budget int64) {
	defer close(s.trimDone)
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
			if _, err := trimMapped(s.dir, budget); err != nil {
				// Not Linux 5.4 or later, or no /proc: nothing to do.
				s.log.Debug("mapped pages not trimmed; not trying again", "err", err)
				return
			}
		}
	}
}
