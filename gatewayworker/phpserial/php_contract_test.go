package phpserial

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runPHP runs a PHP script with the real php binary and returns its stdout
// lines. The test fails (it is never skipped) when php is missing:
// scripts/test.sh installs it.
func runPHP(t *testing.T, script string) []string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php not found: scripts/test.sh installs php-cli (apt-get install php-cli)")
	}
	path := filepath.Join(t.TempDir(), "t.php")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, php, path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("php: %v\nstderr: %s", err, stderr.String())
	}
	return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
}

// PHP's serialize() and this package's Marshal write the same bytes for the
// same values, and Unmarshal reads PHP's output back to the same value.
func TestPHPSerializeContract(t *testing.T) {
	t.Parallel()
	keyed := func(kv ...any) *Array {
		a := NewArray()
		for i := 0; i < len(kv); i += 2 {
			switch k := kv[i].(type) {
			case string:
				a.Set(StrKey(k), kv[i+1])
			case int:
				a.Set(IntKey(int64(k)), kv[i+1])
			}
		}
		return a
	}
	cases := []struct {
		php string
		go_ Value
	}{
		{`null`, nil},
		{`true`, true},
		{`false`, false},
		{`0`, int64(0)},
		{`PHP_INT_MIN`, int64(math.MinInt64)},
		{`"héllo \"x\"\0"`, "héllo \"x\"\x00"},
		{`"\xff\xfe"`, "\xff\xfe"},
		{`[]`, NewArray()},
		{`["a", "b"]`, List("a", "b")},
		{`["123" => 1, "0123" => 2, "-0" => 3, "9223372036854775807" => 4, "9223372036854775808" => 5, "-9223372036854775808" => 6, " 1" => 7, "1.0" => 8, -5 => 9]`,
			keyed("123", int64(1), "0123", int64(2), "-0", int64(3), "9223372036854775807", int64(4),
				"9223372036854775808", int64(5), "-9223372036854775808", int64(6), " 1", int64(7), "1.0", int64(8), -5, int64(9))},
		{`["uid" => "42", "n" => ["x" => [1, 2.5, null, false], 7 => "seven"], "f" => -0.0, "e" => 1e100]`,
			keyed("uid", "42", "n", keyed("x", List(int64(1), 2.5, nil, false), 7, "seven"), "f", math.Copysign(0, -1), "e", 1e100)},
		{`(function () { $a = [5 => "a"]; $a[] = "b"; $a["k"] = "c"; $a[] = "d"; return $a; })()`,
			func() Value { a := keyed(5, "a"); a.Append("b"); a.Set(StrKey("k"), "c"); a.Append("d"); return a }()},
		{`array_replace_recursive(["a" => 1, "n" => ["x" => 1, "y" => [1, 2]]], ["n" => ["y" => [9], "z" => 3], "b" => 2, "a" => [5]])`,
			ReplaceRecursive(keyed("a", int64(1), "n", keyed("x", int64(1), "y", List(int64(1), int64(2)))),
				keyed("n", keyed("y", List(int64(9)), "z", int64(3)), "b", int64(2), "a", List(int64(5))))},
	}
	var script strings.Builder
	script.WriteString("<?php\n")
	for _, c := range cases {
		fmt.Fprintf(&script, "echo base64_encode(serialize(%s)), \"\\n\";\n", c.php)
	}
	// Floats: specials and random bit patterns over the whole range.
	r := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 1, -1, 0.1, 1e15, 1e16, 1e17, 1e-4, 1e-5, 123456789012345678, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN(), math.Copysign(0, -1)}
	for range 2000 {
		f := math.Float64frombits(r.Uint64())
		if !math.IsNaN(f) {
			floats = append(floats, f)
		}
	}
	for range 500 { // "human" floats: few digits, varied exponents
		floats = append(floats, float64(r.IntN(100000))*math.Pow(10, float64(r.IntN(50)-25)))
	}
	for _, f := range floats {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], math.Float64bits(f))
		fmt.Fprintf(&script, "echo serialize(unpack('E', hex2bin('%s'))[1]), \"\\n\";\n", hex.EncodeToString(b[:]))
	}
	lines := runPHP(t, script.String())
	if len(lines) != len(cases)+len(floats) {
		t.Fatalf("php printed %d lines, want %d", len(lines), len(cases)+len(floats))
	}
	for i, c := range cases {
		phpBytes, err := base64.StdEncoding.DecodeString(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		goBytes, err := Marshal(c.go_)
		if err != nil || !bytes.Equal(goBytes, phpBytes) {
			t.Errorf("%s:\nphp serialize %q\ngo  Marshal    %q (%v)", c.php, phpBytes, goBytes, err)
		}
		back, err := Unmarshal(phpBytes, nil)
		if err != nil || !Equal(back, c.go_) {
			t.Errorf("%s: Unmarshal(php) = %#v, %v", c.php, back, err)
		}
	}
	for i, f := range floats {
		want := lines[len(cases)+i]
		if got := "d:" + string(AppendFloat(nil, f)) + ";"; got != want {
			t.Errorf("float %v (bits %x): php %s, go %s", f, math.Float64bits(f), want, got)
		}
	}
}
