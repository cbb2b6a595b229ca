package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The flag package says "parse error" for any bad number or duration. These
// wrappers say what was wrong and what to write instead (issue 15): a
// duration without a unit (PING_INTERVAL=25) is the common mistake.

// ParseFlags sets fs's flags from the environment, then from args, the way
// every chatgate command does: env maps flag names to the environment
// variables (read with getenv; empty counts as unset) that set them, and a
// flag wins over its variable. fs prints nothing. --help returns ErrHelp;
// a refused value names the flag or variable and says what to write; a
// stray argument is an *ArgError.
func ParseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, env map[string]string) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	failed := explainValues(fs)
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := env[f.Name]
		if !ok || envErr != nil {
			return
		}
		if v := getenv(name); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("environment variable %s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		return flagError(fs, err, *failed)
	}
	if fs.NArg() > 0 {
		return &ArgError{Arg: fs.Arg(0), Before: args[:len(args)-fs.NArg()], After: fs.Args()[1:]}
	}
	return nil
}

// explainValues wraps every flag's value so that a failed Set explains
// itself, and returns where the last failure of a flag is kept (the flag
// package's own error loses it).
func explainValues(fs *flag.FlagSet) *valueFailure {
	failed := &valueFailure{}
	fs.VisitAll(func(f *flag.Flag) {
		f.Value = &explainedValue{Value: f.Value, name: f.Name, failed: failed}
	})
	return failed
}

// valueFailure is the flag whose value was refused last, and why.
type valueFailure struct {
	name string
	err  error
}

type explainedValue struct {
	flag.Value
	name   string
	failed *valueFailure
}

func (v *explainedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err == nil {
		return nil
	}
	err = explainValue(v.Value, s, err)
	*v.failed = valueFailure{name: v.name, err: err}
	return err
}

// IsBoolFlag keeps "--events" (no value) meaning true.
func (v *explainedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (v *explainedValue) Get() any {
	if g, ok := v.Value.(flag.Getter); ok {
		return g.Get()
	}
	return nil
}

// explainValue turns the flag package's error for s into one that says
// what to write.
func explainValue(v flag.Value, s string, err error) error {
	g, ok := v.(flag.Getter)
	if !ok {
		return err
	}
	outOfRange := err.Error() == "value out of range" // the flag package's errRange
	switch g.Get().(type) {
	case time.Duration:
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return fmt.Errorf("%s needs a unit, e.g. %ss", s, s)
		}
		return fmt.Errorf("%q is not a duration: write a number and a unit, e.g. 500ms, 25s, 2m or 1h", s)
	case int, int64, uint, uint64:
		if outOfRange {
			return fmt.Errorf("%s is out of range", s)
		}
		return fmt.Errorf("%q is not a whole number", s)
	case float64:
		return fmt.Errorf("%q is not a number", s)
	case bool:
		return fmt.Errorf("%q is not true or false", s)
	}
	return err
}

// flagError rewrites an error of flag.FlagSet.Parse in chatgate's terms
// (double dashes, the reason a value was refused).
func flagError(fs *flag.FlagSet, err error, failed valueFailure) error {
	if errors.Is(err, flag.ErrHelp) {
		return ErrHelp
	}
	if failed.err != nil {
		return fmt.Errorf("--%s: %w", failed.name, failed.err)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		name = strings.TrimLeft(name, "-")
		// An environment variable's name given as a flag (--WS_ADDR).
		if guess := strings.ToLower(strings.ReplaceAll(name, "_", "-")); guess != name && fs.Lookup(guess) != nil {
			return fmt.Errorf("unknown flag --%s; did you mean --%s?", name, guess)
		}
		return fmt.Errorf("unknown flag --%s", name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return fmt.Errorf("--%s needs a value", strings.TrimLeft(name, "-"))
	}
	return errors.New(msg)
}

// ArgError is an argument that is not a flag, found among the flags: the
// role (or command) must come first.
type ArgError struct {
	Arg    string   // the argument
	Before []string // the arguments before it
	After  []string // the arguments after it
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("unexpected argument %q (flags come after the role: chatgate ROLE --flag value)", e.Arg)
}
