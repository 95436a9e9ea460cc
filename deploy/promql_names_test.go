package deploy

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The kit tests check which metrics an expression selects without linking the
// Prometheus PromQL parser, which would pull the whole Prometheus module into
// go.mod. promtool checks that each expression parses, and metricNames only
// has to find the selectors in an expression that is known to be valid. Its
// token rules follow the PromQL lexer of Prometheus v3.16.

// tokenKind classifies the tokens that metricNames needs to tell apart.
type tokenKind int

const (
	tokenIdentifier tokenKind = iota
	tokenString
	tokenNumber
	tokenPunctuation
)

type token struct {
	kind tokenKind
	text string // a string token contains its unquoted value
}

// promqlKeywords are the words that the PromQL lexer never reads as a metric
// name, lowercased: binary operators, aggregations, modifiers and the
// preprocessor functions. inf and nan are number literals.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "atan2": true,
	"sum": true, "avg": true, "count": true, "min": true, "max": true, "group": true,
	"stddev": true, "stdvar": true, "topk": true, "bottomk": true, "count_values": true,
	"quantile": true, "limitk": true, "limit_ratio": true,
	"offset": true, "smoothed": true, "anchored": true, "bool": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"start": true, "end": true, "step": true, "range": true, "max_of": true, "min_of": true,
	"inf": true, "nan": true,
}

// labelListKeywords are followed by a parenthesized list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// fillModifiers are keywords only when a parenthesis follows, as in the lexer.
var fillModifiers = map[string]bool{"fill": true, "fill_left": true, "fill_right": true}

// metricNames returns the metric names that the PromQL expression selects, in
// order of first appearance. It returns an error for a selector whose name it
// cannot know, such as {__name__=~"autoretouch_.*"}, and for an unterminated
// string or an unclosed bracket.
func metricNames(expr string) ([]string, error) {
	tokens, err := tokenizePromQL(expr)
	if err != nil {
		return nil, err
	}

	var names []string
	add := func(name string) {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}

	for i := 0; i < len(tokens); i++ {
		tok := tokens[i]
		switch {
		case tok.kind == tokenPunctuation && tok.text == "[":
			// Ranges and subquery steps contain durations only.
			end, err := closingIndex(tokens, i, "[", "]")
			if err != nil {
				return nil, err
			}
			i = end

		case tok.kind == tokenPunctuation && tok.text == "{":
			end, err := closingIndex(tokens, i, "{", "}")
			if err != nil {
				return nil, err
			}
			name, err := nameFromMatchers(tokens[i+1 : end])
			if err != nil {
				return nil, err
			}
			if name != "" {
				add(name)
			}
			i = end

		case tok.kind == tokenIdentifier:
			word := strings.ToLower(tok.text)
			followedByParen := i+1 < len(tokens) && tokens[i+1].text == "(" && tokens[i+1].kind == tokenPunctuation
			switch {
			case labelListKeywords[word] && followedByParen:
				end, err := closingIndex(tokens, i+1, "(", ")")
				if err != nil {
					return nil, err
				}
				i = end
			case promqlKeywords[word]:
			case fillModifiers[word] && followedByParen:
			case followedByParen:
				// A function call.
			default:
				add(tok.text)
			}
		}
	}
	return names, nil
}

// nameFromMatchers returns the metric name set inside a selector's braces,
// either as a quoted name standing alone or as __name__="...", or "" if the
// braces set none.
func nameFromMatchers(tokens []token) (string, error) {
	name := ""
	for _, matcher := range splitOnCommas(tokens) {
		switch {
		case len(matcher) == 1 && matcher[0].kind == tokenString:
			name = matcher[0].text
		case len(matcher) >= 3 && matcher[0].text == "__name__":
			operator := ""
			for _, tok := range matcher[1 : len(matcher)-1] {
				operator += tok.text
			}
			if operator != "=" {
				return "", fmt.Errorf("selector matches __name__ with %q: only __name__=\"...\" names a metric that can be checked", operator)
			}
			name = matcher[len(matcher)-1].text
		}
	}
	return name, nil
}

func splitOnCommas(tokens []token) [][]token {
	var parts [][]token
	var current []token
	for _, tok := range tokens {
		if tok.kind == tokenPunctuation && tok.text == "," {
			parts = append(parts, current)
			current = nil
			continue
		}
		current = append(current, tok)
	}
	if len(current) > 0 {
		parts = append(parts, current)
	}
	return parts
}

// closingIndex returns the index of the token that closes the bracket at open.
func closingIndex(tokens []token, open int, opening, closing string) (int, error) {
	depth := 0
	for i := open; i < len(tokens); i++ {
		if tokens[i].kind != tokenPunctuation {
			continue
		}
		switch tokens[i].text {
		case opening:
			depth++
		case closing:
			depth--
			if depth == 0 {
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("missing %q", closing)
}

// tokenizePromQL splits an expression into identifiers, strings, numbers or
// durations, and single punctuation characters. It drops whitespace and
// comments.
func tokenizePromQL(expr string) ([]token, error) {
	var tokens []token
	runes := []rune(expr)
	for i := 0; i < len(runes); {
		r := runes[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			i++

		case r == '#':
			for i < len(runes) && runes[i] != '\n' {
				i++
			}

		case r == '"' || r == '\'' || r == '`':
			value, end, err := scanString(runes, i)
			if err != nil {
				return nil, err
			}
			tokens = append(tokens, token{kind: tokenString, text: value})
			i = end

		case isDigit(r) || (r == '.' && i+1 < len(runes) && isDigit(runes[i+1])):
			start := i
			for i < len(runes) {
				c := runes[i]
				exponentSign := (c == '+' || c == '-') && (runes[i-1] == 'e' || runes[i-1] == 'E') && isDecimalMantissa(runes[start:i-1])
				if !isNameRune(c) && c != '.' && !exponentSign {
					break
				}
				i++
			}
			tokens = append(tokens, token{kind: tokenNumber, text: string(runes[start:i])})

		case isNameStart(r) || r == ':':
			start := i
			for i < len(runes) && (isNameRune(runes[i]) || runes[i] == ':') {
				i++
			}
			tokens = append(tokens, token{kind: tokenIdentifier, text: string(runes[start:i])})

		default:
			tokens = append(tokens, token{kind: tokenPunctuation, text: string(r)})
			i++
		}
	}
	return tokens, nil
}

// scanString reads the quoted string that starts at runes[start] and returns
// its value and the index after the closing quote. Backquoted strings are raw,
// as in Go. In the others a backslash escapes the next character, and the
// value keeps that character without decoding escape sequences, which is
// enough to compare metric names.
func scanString(runes []rune, start int) (string, int, error) {
	quote := runes[start]
	var value strings.Builder
	for i := start + 1; i < len(runes); i++ {
		r := runes[i]
		switch {
		case r == quote:
			return value.String(), i + 1, nil
		case r == '\\' && quote != '`' && i+1 < len(runes):
			i++
			value.WriteRune(runes[i])
		default:
			value.WriteRune(r)
		}
	}
	return "", 0, fmt.Errorf("unterminated string starting at character %d", start)
}

func isDigit(r rune) bool     { return '0' <= r && r <= '9' }
func isNameStart(r rune) bool { return r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') }
func isNameRune(r rune) bool  { return isNameStart(r) || isDigit(r) }

// isDecimalMantissa reports whether runes are the digits and dot before the
// "e" of a number like 1.5e-3, so that its sign belongs to the number.
func isDecimalMantissa(runes []rune) bool {
	if len(runes) == 0 {
		return false
	}
	for _, r := range runes {
		if !isDigit(r) && r != '.' {
			return false
		}
	}
	return true
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name string
		expr string
		want []string
	}{
		{"bare name", "up", []string{"up"}},
		{"selector with matchers", `up{job="autoretouch", instance!~"a}b"}`, []string{"up"}},
		{"recording rule name", "autoretouch:credits_spent_per_hour:rate1h > 0", []string{"autoretouch:credits_spent_per_hour:rate1h"}},
		{"leading colon", ":node_memory:sum", []string{":node_memory:sum"}},
		{"aggregation with grouping", `sum by (org_id, org) (rate(x_total{code=~"5.."}[5m]))`, []string{"x_total"}},
		{"grouping after the aggregation", "sum(x) without (instance, job)", []string{"x"}},
		{"keywords in upper case", "SUM BY (le) (y)", []string{"y"}},
		{"vector matching", "a / on (org_id) group_left (org) b", []string{"a", "b"}},
		{"bare group_left", "a * on (org_id) group_left b", []string{"a", "b"}},
		{"name matcher", `{__name__="x", job="a"}`, []string{"x"}},
		{"quoted name", `{"x.y", job="a"}`, []string{"x.y"}},
		{"histogram quantile", "histogram_quantile(0.9, sum by (le) (rate(h_bucket[$__rate_interval])))", []string{"h_bucket"}},
		{"offset and at modifier", "x offset -5m @ start()", []string{"x"}},
		{"subquery", "sum_over_time(clamp_min(last_over_time(b[15m] offset 1m) - b, 0)[1h:1m])", []string{"b"}},
		{"string arguments", `label_replace(x, "dst", "$1", "src", "(.*)")`, []string{"x"}},
		{"count_values", `count_values("version", build_info)`, []string{"build_info"}},
		{"comparison with bool", "x > bool 3", []string{"x"}},
		{"exponent", "x * 1.5e-3 + 0x1F", []string{"x"}},
		{"infinity", "x < Inf", []string{"x"}},
		{"comment", "vector(1) # not_a_metric", nil},
		{"fill modifier", "a + fill(0) b", []string{"a", "b"}},
		{"repeated name", "a - a offset 1h", []string{"a"}},
		{"escaped quote", `a{org="say \"hi\" {}"}`, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := metricNames(tt.expr)
			if err != nil {
				t.Fatalf("metricNames(%q) returned error: %v", tt.expr, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

func TestMetricNamesErrors(t *testing.T) {
	tests := []struct {
		name string
		expr string
	}{
		{"regular expression on __name__", `{__name__=~"autoretouch_.*"}`},
		{"negated __name__", `{__name__!="up", job="a"}`},
		{"unterminated string", `up{job="a}`},
		{"unclosed brace", `up{job="a"`},
		{"unclosed range", "rate(x[5m)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := metricNames(tt.expr); err == nil {
				t.Errorf("metricNames(%q) = %q, want an error", tt.expr, got)
			}
		})
	}
}
