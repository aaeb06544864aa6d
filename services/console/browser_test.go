package console_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/lethe-gdpr/lethe/pkg/server"
	"github.com/lethe-gdpr/lethe/pkg/testkit"
)

const inst = "demo-museum"

// served is a real lethe serve, in process, with two configured tokens: a DPO's (every
// scope but ingest) and an analyst's (read and admin: simulations, never erasure).
type served struct {
	base, ingest, dpo, analyst string
	crm                        string // the token of the destination crm-demo
	config                     string // lethe.yaml
}

func serve(t *testing.T) served {
	t.Helper()
	dir := t.TempDir()
	tokens := map[string]string{"ingest": "tok-ingest-" + strconv.Itoa(os.Getpid()), "dpo": "tok-dpo-secret", "analyst": "tok-analyst-secret", "crm": "tok-crm-demo-secret"}
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	yaml := fmt.Sprintf(`tokens:
  - {name: ticketing, sha256: %q, institutions: [%s], scopes: [ingest]}
  - {name: dpo, sha256: %q, institutions: [%s], scopes: [read, admin, erase, export]}
  - {name: analyst, sha256: %q, institutions: [%s], scopes: [read, admin]}
  - {name: crm-demo, sha256: %q, institutions: [%s], scopes: [ingest], destination: crm-demo}
institutions:
  - {id: %s, inactivity_months: 36}
destinations:
  - {name: crm-demo, institutions: [%s]}
`, hash(tokens["ingest"]), inst, hash(tokens["dpo"]), inst, hash(tokens["analyst"]), inst, hash(tokens["crm"]), inst, inst, inst)
	cfgPath := filepath.Join(dir, "lethe.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.Parse([]string{"--http", "127.0.0.1:0", "--nats-listen", "127.0.0.1:0", "--data", filepath.Join(dir, "data"), "--config", cfgPath}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out := &testkit.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg, out, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var base string
	re := regexp.MustCompile(`lethe listening on (http://\S+)`)
	testkit.Eventually(t, "lethe serve listening", func() error {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			return nil
		}
		return errors.New("not yet")
	})
	testkit.Eventually(t, "/readyz", func() error {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return testkit.Equal("status", resp.StatusCode, http.StatusOK)
	})
	return served{base: base, ingest: tokens["ingest"], dpo: tokens["dpo"], analyst: tokens["analyst"], crm: tokens["crm"], config: cfgPath}
}

// apiGet is the API as the DPO, for what the test checks behind the pages.
func (s served) apiGet(t *testing.T, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.dpo)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// apiPost is a POST of the API as the DPO; it returns the status.
func (s served) apiPost(t *testing.T, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+s.dpo)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// operator is a person at the browser. Every page it sees is kept (address and HTML) for
// the sweep for personal values; each is photographed.
type operator struct {
	t     *testing.T
	ctx   context.Context
	base  string
	shots string
	mu    sync.Mutex
	seen  []seenPage
	dlDir string
}

type seenPage struct{ url, html string }

func (o *operator) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	o.t.Helper()
	if err := chromedp.Do(o.ctx, steps...); err != nil {
		o.t.Fatalf("%s: %v", what, err)
	}
}

func value[T any](o *operator, what string, a chromedp.Action[T]) T {
	o.t.Helper()
	v, err := chromedp.Run(o.ctx, a)
	if err != nil {
		o.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// page waits until the browser shows a page whose address matches path (a regexp) and
// whose body says want, then keeps it and returns its text.
func (o *operator) page(path, want string) string {
	o.t.Helper()
	re := regexp.MustCompile(path)
	var loc, html, text string
	testkit.Eventually(o.t, "a page at "+path+" saying "+strconv.Quote(want), func() error {
		ctx, cancel := context.WithTimeout(o.ctx, 10*time.Second)
		defer cancel()
		var err error
		if err = chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			return err
		}
		if loc, err = chromedp.Run(ctx, chromedp.Location()); err != nil {
			return err
		}
		if html, err = chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
			return err
		}
		if text, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err != nil {
			return err
		}
		u, _ := url.Parse(loc)
		if !re.MatchString(u.Path) {
			return fmt.Errorf("at %s", loc)
		}
		if !strings.Contains(text, want) {
			return fmt.Errorf("%s does not say %q yet", loc, want)
		}
		return nil
	})
	o.mu.Lock()
	o.seen = append(o.seen, seenPage{loc, html})
	o.mu.Unlock()
	for _, problem := range value(o, "accessibility of "+loc, chromedp.Evaluate[[]string](accessibility)) {
		o.t.Errorf("%s: %s", loc, problem)
	}
	return text
}

// accessibility lists what a page lacks for a screen reader or a keyboard: a label for every
// control, words on every button and link, a language, one h1.
const accessibility = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(el.id && document.querySelector('label[for="' + el.id + '"]')) && !el.getAttribute('aria-label') && !el.closest('label')) {
      bad.push('a control without a label: ' + el.outerHTML.slice(0, 80));
    }
  }
  for (const el of document.querySelectorAll('button, a')) {
    if (!el.textContent.trim() && !el.getAttribute('aria-label')) bad.push('a button or link without words: ' + el.outerHTML.slice(0, 80));
  }
  if (document.documentElement.lang !== 'en') bad.push('no lang="en"');
  const h1 = document.querySelectorAll('h1').length;
  if (h1 !== 1) bad.push(h1 + ' h1 headings');
  return bad;
})()`

func (o *operator) visit(path, want string) string {
	o.t.Helper()
	o.run("open "+path, chromedp.Navigate(o.base+path))
	return o.page("^"+regexp.QuoteMeta(strings.SplitN(path, "?", 2)[0])+"$", want)
}

func (o *operator) location() string {
	o.t.Helper()
	return value(o, "location", chromedp.Location())
}

func (o *operator) screenshot(name string) {
	o.t.Helper()
	png := value(o, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(o.shots, name+".png"), png, 0o644); err != nil {
		o.t.Fatal(err)
	}
}

// screenshotTop photographs the top 1280×1400 of a long page.
func (o *operator) screenshotTop(name string) {
	o.t.Helper()
	if _, err := chromedp.Call(o.ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1280, Height: 1400, DeviceScaleFactor: 1}); err != nil {
		o.t.Fatal(err)
	}
	defer func() { _, _ = chromedp.Call(o.ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}) }()
	png := value(o, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(o.shots, name+".png"), png, 0o644); err != nil {
		o.t.Fatal(err)
	}
}

// download clicks what a person clicks to download, and returns the file's content.
func (o *operator) download(click chromedp.Action[chromedp.Void]) []byte {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(o.ctx, testkit.Wait(o.t))
	defer cancel()
	progress := chromedp.Events(ctx, browser.DownloadProgress)
	o.run("click to download", click)
	for ev, err := range progress {
		if err != nil {
			o.t.Fatalf("waiting for the download: %v", err)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			b, err := os.ReadFile(filepath.Join(o.dlDir, ev.GUID))
			if err != nil {
				o.t.Fatal(err)
			}
			return b
		}
	}
	o.t.Fatal("no download")
	return nil
}

// cookie is the browser's session cookie (HttpOnly: only the browser itself reads it).
func (o *operator) cookie() *http.Cookie {
	o.t.Helper()
	res, err := chromedp.Call(o.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{o.base + "/ui/"}})
	if err != nil {
		o.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "lethe_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				o.t.Errorf("session cookie: HttpOnly %v, SameSite %q; want HttpOnly, Strict", c.HTTPOnly, c.SameSite)
			}
			return &http.Cookie{Name: c.Name, Value: c.Value}
		}
	}
	o.t.Fatal("no session cookie")
	return nil
}

func (o *operator) signIn(token string) {
	o.t.Helper()
	o.run("sign-in page", chromedp.Navigate(o.base+"/ui/"))
	o.page(`^/ui/signin$`, "Sign in with a Lethe API token")
	o.run("sign in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token")))
}

func (o *operator) signOut() {
	o.t.Helper()
	o.run("sign out", chromedp.Click(chromedp.CSS(`header form button`)))
	o.page(`^/ui/signin$`, "Sign in")
}

// button and link select by their visible words, as a person finds them.
func button(words string) chromedp.Search {
	return chromedp.Search(`//button[normalize-space()="` + words + `"]`)
}
func link(words string) chromedp.Search {
	return chromedp.Search(`//a[normalize-space()="` + words + `"]`)
}

// browserContext is one headless Chromium for the test, downloads going to a directory.
func browserContext(t *testing.T) (context.Context, string) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
			t.Fatal("chromium is not installed: deploy/testing/run-tests.sh installs it")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium); CI fails here instead")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("lang", "en"))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	dlDir := t.TempDir()
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:     browser.SetDownloadBehaviorBehaviorAllowAndName, //nolint:misspell // the DevTools protocol's name
		DownloadPath: dlDir, EventsEnabled: new(true)}); err != nil {
		t.Fatalf("chromium downloads: %v", err)
	}
	return ctx, dlDir
}
