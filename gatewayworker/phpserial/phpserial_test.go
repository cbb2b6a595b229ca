package phpserial

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestStrKey(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		isInt bool
		num   int64
	}{
		{"zero", "0", true, 0},
		{"positive", "123", true, 123},
		{"negative", "-5", true, -5},
		{"max int64", "9223372036854775807", true, math.MaxInt64},
		{"min int64", "-9223372036854775808", true, math.MinInt64},
		{"beyond int64", "9223372036854775808", false, 0},
		{"leading zero", "0123", false, 0},
		{"minus zero", "-0", false, 0},
		{"float text", "1.0", false, 0},
		{"leading space", " 1", false, 0},
		{"trailing space", "1 ", false, 0},
		{"plus sign", "+1", false, 0},
		{"empty", "", false, 0},
		{"minus only", "-", false, 0},
		{"word", "room1", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := StrKey(tt.in)
			if k.IsInt() != tt.isInt || k.Int() != tt.num {
				t.Fatalf("StrKey(%q) = int %v %d, want int %v %d", tt.in, k.IsInt(), k.Int(), tt.isInt, tt.num)
			}
			if k.String() != tt.in {
				t.Fatalf("StrKey(%q).String() = %q", tt.in, k.String())
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	nested := NewArray()
	nested.Set(StrKey("name"), "ann")
	nested.Set(StrKey("42"), List(int64(1), "x", nil, true, 1.5))
	tests := []struct {
		name string
		v    Value
		want string
	}{
		{"null", nil, "N;"},
		{"true", true, "b:1;"},
		{"false", false, "b:0;"},
		{"int", int64(-7), "i:-7;"},
		{"Go int", 7, "i:7;"},
		{"uint32", uint32(4294967295), "i:4294967295;"},
		{"string with quote and bytes", "a\"b\x00é", "s:6:\"a\"b\x00é\";"},
		{"float", 0.1, "d:0.1;"},
		{"list", []string{"a", "b"}, `a:2:{i:0;s:1:"a";i:1;s:1:"b";}`},
		{"nested", nested, `a:2:{s:4:"name";s:3:"ann";i:42;a:5:{i:0;i:1;i:1;s:1:"x";i:2;N;i:3;b:1;i:4;d:1.5;}}`},
		{"empty array", NewArray(), "a:0:{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.v)
			if err != nil || string(got) != tt.want {
				t.Fatalf("Marshal = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := Marshal(struct{}{}); err == nil {
		t.Fatal("Marshal(struct{}{}) succeeded")
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		f    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {1, "1"}, {-1.5, "-1.5"}, {0.1, "0.1"},
		{100, "100"}, {1e15, "1000000000000000"}, {1e16, "10000000000000000"},
		{1e17, "1.0E+17"}, {1.5e25, "1.5E+25"}, {0.0001, "0.0001"}, {0.00001, "1.0E-5"},
		{1.25e-7, "1.25E-7"}, {123456.789, "123456.789"}, {math.MaxFloat64, "1.7976931348623157E+308"},
		{5e-324, "5.0E-324"}, {math.Inf(1), "INF"}, {math.Inf(-1), "-INF"}, {math.NaN(), "NAN"},
	}
	for _, tt := range tests {
		if got := string(AppendFloat(nil, tt.f)); got != tt.want {
			t.Errorf("AppendFloat(%v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want Value
	}{
		{"N;", nil},
		{"b:1;", true},
		{"i:+5;", int64(5)},
		{"i:-005;", int64(-5)},
		{"d:1.0E+25;", 1e25},
		{"d:.5;", 0.5},
		{"d:5.;", 5.0},
		{"d:-INF;", math.Inf(-1)},
		{"d:1e999;", math.Inf(1)},
		{`s:0:"";`, ""},
		{`s:3:"a;b";`, "a;b"},
		{`a:1:{s:2:"07";i:1;}`, func() Value { a := NewArray(); a.Set(StrKey("07"), int64(1)); return a }()},
		{`a:1:{s:1:"7";i:1;}`, func() Value { a := NewArray(); a.Set(IntKey(7), int64(1)); return a }()},
		// A repeated key keeps its first position and takes the last value, as in PHP.
		{`a:3:{i:1;s:1:"a";i:2;s:1:"b";s:1:"1";s:1:"c";}`, func() Value {
			a := NewArray()
			a.Set(IntKey(1), "c")
			a.Set(IntKey(2), "b")
			return a
		}()},
	}
	for _, tt := range tests {
		got, err := Unmarshal([]byte(tt.in), nil)
		if err != nil || !Equal(got, tt.want) {
			t.Errorf("Unmarshal(%q) = %#v, %v; want %#v", tt.in, got, err, tt.want)
		}
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	refused := []string{
		`O:8:"stdClass":0:{}`, `C:3:"Foo":0:{}`, `E:7:"Foo:Bar";`, `a:2:{i:0;i:1;i:1;R:2;}`, `a:1:{i:0;r:1;}`, `S:1:"\61";`,
	}
	for _, in := range refused {
		if _, err := Unmarshal([]byte(in), nil); !errors.Is(err, ErrRefused) {
			t.Errorf("Unmarshal(%q) = %v, want ErrRefused", in, err)
		}
	}
	invalid := []string{
		"", "N", "b:2;", "i:;", "i:1", "i:12a;", "i:99999999999999999999;", "d:;", "d:1e;", "d:e5;", "d:0x10;",
		`s:2:"a";`, `s:1:"ab";`, `s:-1:"";`, `s:1:"a"`, "a:1:{}", "a:0:{", `a:1:{d:1.0;i:1;}`, `a:1:{N;i:1;}`,
		"a:99999999:{}", "N;N;", "i:1;x", "x:1;",
	}
	for _, in := range invalid {
		if _, err := Unmarshal([]byte(in), nil); !errors.Is(err, ErrSyntax) {
			t.Errorf("Unmarshal(%q) = %v, want ErrSyntax", in, err)
		}
	}
	deep := strings.Repeat("a:1:{i:0;", 65) + "N;" + strings.Repeat("}", 65)
	if _, err := Unmarshal([]byte(deep), nil); !errors.Is(err, ErrSyntax) {
		t.Errorf("65 levels: %v, want ErrSyntax", err)
	}
	ok := strings.Repeat("a:1:{i:0;", 64) + "N;" + strings.Repeat("}", 64)
	if _, err := Unmarshal([]byte(ok), nil); err != nil {
		t.Errorf("64 levels: %v", err)
	}
}

func TestReplaceRecursive(t *testing.T) {
	// PHP: array_replace_recursive(['a'=>1,'n'=>['x'=>1,'y'=>[1,2]],'l'=>[1,2,3]], ['n'=>['y'=>[9],'z'=>3],'b'=>2,'l'=>'s','a'=>[5]])
	base, _ := Unmarshal([]byte(`a:3:{s:1:"a";i:1;s:1:"n";a:2:{s:1:"x";i:1;s:1:"y";a:2:{i:0;i:1;i:1;i:2;}}s:1:"l";a:3:{i:0;i:1;i:1;i:2;i:2;i:3;}}`), nil)
	repl, _ := Unmarshal([]byte(`a:4:{s:1:"n";a:2:{s:1:"y";a:1:{i:0;i:9;}s:1:"z";i:3;}s:1:"b";i:2;s:1:"l";s:1:"s";s:1:"a";a:1:{i:0;i:5;}}`), nil)
	want := `a:4:{s:1:"a";a:1:{i:0;i:5;}s:1:"n";a:3:{s:1:"x";i:1;s:1:"y";a:2:{i:0;i:9;i:1;i:2;}s:1:"z";i:3;}s:1:"l";s:1:"s";s:1:"b";i:2;}`
	baseBefore := string(MustMarshal(base))
	got := MustMarshal(ReplaceRecursive(base.(*Array), repl.(*Array)))
	if string(got) != want {
		t.Fatalf("ReplaceRecursive = %s\nwant              %s", got, want)
	}
	if string(MustMarshal(base)) != baseBefore {
		t.Fatal("ReplaceRecursive modified its base")
	}
}

func TestArrayDeleteAndIndex(t *testing.T) {
	a := NewArray()
	for i := range 20 {
		a.Append(int64(i))
	}
	a.Delete(IntKey(3))
	a.Set(StrKey("x"), "y")
	if v, ok := a.Get(IntKey(4)); !ok || v != int64(4) {
		t.Fatalf("Get(4) = %v %v", v, ok)
	}
	if _, ok := a.Get(IntKey(3)); ok {
		t.Fatal("deleted key still there")
	}
	if k, v := a.At(a.Len() - 1); k != StrKey("x") || v != "y" {
		t.Fatalf("last entry %v %v", k, v)
	}
	a.Append("next")
	if v, _ := a.Get(IntKey(20)); v != "next" {
		t.Fatalf("Append after delete used key %v", a.keys[a.Len()-1])
	}
}
