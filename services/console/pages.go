package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/lethe-gdpr/lethe/pkg/config"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

// staticFS serves static/console.css at /ui/static/console.css.
var staticFS fs.FS = staticRoot

// view is what every page's template gets: the layout's needs, and the page's own Data.
type view struct {
	Title   string
	Session *session
	Inst    string
	Nav     string
	Data    any
}

// CSRF is the session's token for the page's forms.
func (v view) CSRF() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.csrf
}

// May reports whether the signed-in token holds scope on the page's institution.
func (v view) May(scope string) bool { return v.Session != nil && v.Session.may(scope, v.Inst) }

// MayAny reports whether the signed-in token holds scope, whatever the institution.
func (v view) MayAny(scope string) bool { return v.Session != nil && v.Session.tok.Has(scope) }

// Who is the token's name and scopes, for the header.
func (v view) Who() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.tok.Name + " (" + strings.Join(v.Session.tok.Scopes, ", ") + ")"
}

type pages struct{ byName map[string]*template.Template }

var pageNames = []string{"signin", "error", "home", "overview", "runs", "report", "apply", "contact", "register", "audit", "requests"}

var funcs = template.FuncMap{
	"date": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02")
		}
		return fmt.Sprint(t)
	},
	"datetime": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "—"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return fmt.Sprint(t)
	},
	"pathesc":  url.PathEscape,
	"queryesc": url.QueryEscape,
	"sortedKeys": func(m map[string]int) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return keys
	},
	"label": label,
	"age":   age,
	"result": func(r string) string {
		if reason, ok := strings.CutPrefix(r, "skipped:"); ok {
			return "skipped: " + label(reason)
		}
		return r
	},
	"join": strings.Join,
	"add":  func(a, b int) int { return a + b },
	"list": func(s ...string) []string { return s },
}

// age writes a duration as an operator reads it, in its two largest units: "3 days 4 h",
// "7 days", "2 h 5 min", "40 s".
func age(d time.Duration) string {
	d = d.Round(time.Second)
	two := func(n int, unit string, m int, sub string) string {
		if m == 0 {
			return fmt.Sprintf("%d %s", n, unit)
		}
		return fmt.Sprintf("%d %s %d %s", n, unit, m, sub)
	}
	switch days := int(d / (24 * time.Hour)); {
	case days >= 2:
		return two(days, "days", int(d/time.Hour)%24, "h")
	case days == 1:
		return two(1, "day", int(d/time.Hour)%24, "h")
	case d >= time.Hour:
		return two(int(d/time.Hour), "h", int(d/time.Minute)%60, "min")
	case d >= time.Minute:
		return two(int(d/time.Minute), "min", int(d/time.Second)%60, "s")
	}
	return fmt.Sprintf("%d s", int(d/time.Second))
}

// label is the words an operator reads for an API token (outcome, reason, status).
func label(s string) string {
	switch s {
	case "delete":
		return "delete"
	case "anonymise":
		return "anonymise"
	case "skip":
		return "skip"
	case "debt":
		return "debt (owes money)"
	case "credit":
		return "credit (is owed money)"
	case "active_subscription":
		return "live subscription"
	case "legal_hold":
		return "legal hold"
	case "became_active":
		return "became active since the plan"
	case "not_in_scope":
		return "not in scope"
	}
	return strings.ReplaceAll(s, "_", " ")
}

func parsePages() (*pages, error) {
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/runtable.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.byName[name] = t
	}
	return p, nil
}

// render writes a whole page, or a plain 500 when its template fails (rendered first into a
// buffer, so that a half page is never sent).
func (s *Service) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	var buf bytes.Buffer
	if err := s.pages.byName[name].Execute(&buf, v); err != nil {
		s.log.Error("console: rendering", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	secureHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// institutions lists what the home page offers: the configured institutions the token
// covers (all of them for a token of every institution), and its own concrete ones.
func institutions(cfg config.File, tok config.Token) []string {
	seen := map[string]bool{}
	var out []string
	for _, in := range cfg.Institutions {
		if tok.Covers(in.ID) && !seen[in.ID] {
			seen[in.ID] = true
			out = append(out, in.ID)
		}
	}
	for _, id := range tok.Institutions {
		if id != config.AnyInstitution && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
