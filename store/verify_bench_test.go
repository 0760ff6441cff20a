package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// BenchmarkVerify1M is `accessbot audit verify` on a log of a million
// events (the lifecycle history of bench_test.go), against the least any
// verification must do: a cursor scan of the audit bucket that hashes each
// stored record once with SHA-256, both in every iteration. It reports
// verify/scan and, on Linux, the peak resident memory of each (which
// counts the pages of the file mapped in). Building the file takes about half a minute, so it runs only
// with ACCESSBOT_BENCH_1M=1:
//
//	ACCESSBOT_BENCH_1M=1 go test -run '^$' -bench Verify1M -benchtime 3x ./store/
func BenchmarkVerify1M(b *testing.B) {
	if os.Getenv("ACCESSBOT_BENCH_1M") != "1" {
		b.Skip("set ACCESSBOT_BENCH_1M=1 to build and verify a log of a million events")
	}
	const n = 1_000_000
	ctx := context.Background()
	db := benchDB(b, fmt.Sprintf("lifecycle-%d", n), lifecycle(n))
	verify := func() {
		res, err := db.Verify(ctx)
		if err != nil || res.Count != n {
			b.Fatalf("Verify = %+v, %v", res, err)
		}
	}
	scan := func() {
		count := 0
		err := db.bolt.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketAudit).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				sum := sha256.Sum256(v)
				if sum[0] == 0 && sum[1] == 0 && sum[2] == 0 && sum[3] == 0 {
					count-- // keeps the hash from being optimised away
				}
				count++
			}
			return nil
		})
		if err != nil || count < n-10 {
			b.Fatalf("scan: %d, %v", count, err)
		}
	}
	// Both run in every iteration, in turns, so that whatever else the
	// machine does, and the page cache, weigh on both alike.
	var verifyTime, scanTime time.Duration
	var verifyRSS, scanRSS float64
	timed := func(fn func(), total *time.Duration, rss *float64) {
		resetPeakRSS()
		start := time.Now()
		fn()
		*total += time.Since(start)
		*rss = max(*rss, peakRSS())
	}
	i := 0
	for b.Loop() {
		if i++; i%2 == 0 {
			timed(verify, &verifyTime, &verifyRSS)
			timed(scan, &scanTime, &scanRSS)
		} else {
			timed(scan, &scanTime, &scanRSS)
			timed(verify, &verifyTime, &verifyRSS)
		}
	}
	b.ReportMetric(float64(verifyTime.Nanoseconds())/float64(b.N)/n, "verify-ns/event")
	b.ReportMetric(float64(scanTime.Nanoseconds())/float64(b.N)/n, "scan-ns/event")
	b.ReportMetric(verifyTime.Seconds()/scanTime.Seconds(), "verify/scan")
	if verifyRSS > 0 {
		b.ReportMetric(verifyRSS, "verify-peak-RSS-MiB")
		b.ReportMetric(scanRSS, "scan-peak-RSS-MiB")
	}
}

// resetPeakRSS resets the process's peak resident set size (Linux), so
// that reportPeakRSS reports the peak since.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM, the peak resident set size, in MiB; 0 if it
// cannot tell.
func peakRSS() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := bytes.CutPrefix(s.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.Atoi(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))))
			if err == nil {
				return float64(kb) / 1024
			}
		}
	}
	return 0
}
