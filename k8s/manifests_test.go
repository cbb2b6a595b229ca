package k8s_test

import (
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/session"
)

// Names the manifests and the tests agree on.
const (
	gatewayName = "chatgate-gateway"
	httpName    = "chatgate-http"
	redisName   = "chatgate-redis"
	wsIngress   = "chatgate-ws"
	pageIngress = "chatgate"
	pushService = "chatgate-http-internal"
	// minProxyTimeout is the least nginx read/send timeout on the WebSocket
	// path, in seconds: long-lived sockets must not be cut by the proxy.
	minProxyTimeout = 3600
	// shutdownMargin is what a gateway needs on SIGTERM besides the drain:
	// http.Server.Shutdown (up to 5s in internal/app) before the drain starts.
	shutdownMargin = 5 * time.Second
)

// extraEnv are variables that are not chatgate flags but are allowed.
var extraEnv = map[string]bool{"GOMEMLIMIT": true}

// roles maps each chatgate Deployment to the role it must run.
var roles = map[string]string{gatewayName: app.RoleGateway, httpName: app.RoleHTTP}

func flagsByEnv() map[string]config.Flag {
	m := map[string]config.Flag{}
	for _, f := range config.Flags() {
		m[f.Env] = f
	}
	return m
}

func flagsByName() map[string]config.Flag {
	m := map[string]config.Flag{}
	for _, f := range config.Flags() {
		m[f.Name] = f
	}
	return m
}

// env resolves a container's environment as the kubelet would: envFrom
// sources in order, then env. Values taken from fields are "" (unknown).
func (o *objects) env(t *testing.T, c *corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, src := range c.EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			cm, ok := o.configmaps[src.ConfigMapRef.Name]
			if !ok {
				t.Fatalf("container %s: envFrom ConfigMap %q not in the manifests", c.Name, src.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				out[k] = v
			}
		case src.SecretRef != nil:
			s, ok := o.secrets[src.SecretRef.Name]
			if !ok {
				t.Fatalf("container %s: envFrom Secret %q not in the manifests", c.Name, src.SecretRef.Name)
			}
			for k, v := range s.Data {
				out[k] = string(v)
			}
			for k, v := range s.StringData {
				out[k] = v
			}
		default:
			t.Fatalf("container %s: envFrom without a ConfigMap or Secret", c.Name)
		}
	}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

// chatgateConfig loads the real config of a container from its args and
// environment, exactly as the binary would.
func (o *objects) chatgateConfig(t *testing.T, d *appsv1.Deployment) (*corev1.Container, *config.Config) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", d.Name, len(spec.Containers))
	}
	c := &spec.Containers[0]
	role := roles[d.Name]
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q set; the image's entrypoint is chatgate, pass the role in args", d.Name, c.Command)
	}
	if len(c.Args) == 0 || c.Args[0] != role {
		t.Fatalf("%s: args %q, want the role %q first", d.Name, c.Args, role)
	}
	byName := flagsByName()
	for _, a := range c.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue // a flag's value
		}
		if _, ok := byName[name]; !ok {
			t.Errorf("%s: argument %q is not a chatgate flag", d.Name, a)
		}
	}
	env := o.env(t, c)
	byEnv := flagsByEnv()
	for k := range env {
		if _, ok := byEnv[k]; !ok && !extraEnv[k] {
			t.Errorf("%s: environment variable %s is not a chatgate flag (see config.Flags)", d.Name, k)
		}
	}
	cfg, err := config.Load("chatgate "+role, c.Args[1:], func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("%s: chatgate would not start with this args/env: %v", d.Name, err)
	}
	if err := app.Validate(role, cfg); err != nil {
		t.Errorf("%s: role %s would refuse to start: %v", d.Name, role, err)
	}
	if cfg.RedisURL != "" {
		if _, err := session.ParseRedisURL(cfg.RedisURL); err != nil {
			t.Errorf("%s: REDIS_URL: %v", d.Name, err)
		}
	}
	return c, cfg
}

// port returns the container port named or numbered p.
func containerPort(c *corev1.Container, name string, num int32) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == num) {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 {
		t.Fatalf("listen address %q: want a fixed port in a container", addr)
	}
	return int32(n)
}

func checkProbe(t *testing.T, what string, pr *corev1.Probe, c *corev1.Container, path string, port int32) {
	t.Helper()
	if pr == nil || pr.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", what)
		return
	}
	if pr.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", what, pr.HTTPGet.Path, path)
	}
	p, ok := containerPort(c, pr.HTTPGet.Port.StrVal, pr.HTTPGet.Port.IntVal)
	if !ok || p.ContainerPort != port {
		t.Errorf("%s: port %s is not the listen port %d", what, pr.HTTPGet.Port.String(), port)
	}
}

// ports returns a chatgate container's public listen port (WebSocket or
// HTTP app) and its internal one (/readyz, /metrics, push API), as the
// binary would listen with cfg.
func ports(t *testing.T, role string, cfg *config.Config) (public, internal int32) {
	t.Helper()
	addr := cfg.HTTPAddr
	if role == app.RoleGateway {
		addr = cfg.WSAddr
	}
	return listenPort(t, addr), listenPort(t, app.InternalAddr(role, cfg))
}

// checkChatgate checks one chatgate Deployment against its real config.
func (o *objects) checkChatgate(t *testing.T, d *appsv1.Deployment) {
	c, cfg := o.chatgateConfig(t, d)
	public, internal := ports(t, roles[d.Name], cfg)
	if host, _, _ := net.SplitHostPort(app.InternalAddr(roles[d.Name], cfg)); host != "" {
		t.Errorf("%s: internal listener on host %q: probes and Prometheus reach the pod IP, listen on every interface", d.Name, host)
	}
	pub, ok1 := containerPort(c, "", public)
	in, ok2 := containerPort(c, "", internal)
	if len(c.Ports) != 2 || !ok1 || !ok2 || pub.Name == "" || in.Name == "" || public == internal {
		t.Errorf("%s: ports %+v, want two named ports: public %d and internal %d", d.Name, c.Ports, public, internal)
	}
	// Readiness needs Redis and lives on the internal port; liveness only
	// needs the process and proves the public port serves.
	checkProbe(t, d.Name+" readiness", c.ReadinessProbe, c, "/readyz", internal)
	checkProbe(t, d.Name+" liveness", c.LivenessProbe, c, "/healthz", public)
	ann := d.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(internal)) {
		t.Errorf("%s: prometheus.io annotations %v, want scrape \"true\", path /metrics, port %d (the internal port)", d.Name, ann, internal)
	}

	spec := d.Spec.Template.Spec
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds <= 0 {
		t.Fatalf("%s: want a preStop sleep (endpoint removal before SIGTERM; the image has no shell)", d.Name)
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	need := preStop + shutdownMargin
	if roles[d.Name] == app.RoleGateway {
		need += cfg.DrainTimeout + cfg.RedisTimeout
	}
	var grace time.Duration
	if spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	}
	if grace < need {
		t.Errorf("%s: terminationGracePeriodSeconds %v < %v (preStop %v + shutdown %v, + drain %v + redis timeout %v for a gateway)",
			d.Name, grace, need, preStop, shutdownMargin, cfg.DrainTimeout, cfg.RedisTimeout)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks must be false (no stray *_SERVICE_HOST variables)", d.Name)
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" && c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: GOMEMLIMIT comes from limits.memory, which is not set", d.Name)
		}
	}
}

// pods lists every workload's pod template, by workload name.
func (o *objects) pods() map[string]*corev1.PodTemplateSpec {
	m := map[string]*corev1.PodTemplateSpec{}
	for n, d := range o.deployments {
		m[n] = &d.Spec.Template
	}
	for n, s := range o.statefulsets {
		m[n] = &s.Spec.Template
	}
	return m
}

func checkSecurity(t *testing.T, name string, pod *corev1.PodTemplateSpec) {
	t.Helper()
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: pod must set runAsNonRoot: true and a non-zero runAsUser", name)
	}
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		sc := c.SecurityContext
		switch {
		case sc == nil:
			t.Errorf("%s/%s: no securityContext", name, c.Name)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s/%s: allowPrivilegeEscalation must be false", name, c.Name)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s/%s: readOnlyRootFilesystem must be true", name, c.Name)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s/%s: privileged", name, c.Name)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s/%s: capabilities must drop ALL and add none", name, c.Name)
		}
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, pod *corev1.PodTemplateSpec) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("label selector %v: %v", sel, err)
	}
	return !s.Empty() && s.Matches(labels.Set(pod.Labels))
}

// checkServices: each Service selects exactly one workload, its target ports
// exist there, and there is no session affinity (none is needed).
func (o *objects) checkServices(t *testing.T) {
	for name, svc := range o.services {
		var target *corev1.PodTemplateSpec
		for _, pod := range o.pods() {
			if selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, pod) {
				if target != nil {
					t.Errorf("service %s selects several workloads", name)
				}
				target = pod
			}
		}
		if target == nil {
			t.Errorf("service %s selects no workload", name)
			continue
		}
		if a := svc.Spec.SessionAffinity; a != "" && a != corev1.ServiceAffinityNone {
			t.Errorf("service %s: sessionAffinity %s; chatgate needs no sticky sessions", name, a)
		}
		for _, sp := range svc.Spec.Ports {
			found := false
			for _, c := range target.Spec.Containers {
				if _, ok := containerPort(&c, sp.TargetPort.StrVal, sp.TargetPort.IntVal); ok {
					found = true
				}
			}
			if !found {
				t.Errorf("service %s: targetPort %s is no container port", name, sp.TargetPort.String())
			}
		}
	}
}

// checkIngress: "/" reaches the HTTP app; the WebSocket URL the page is given
// (GATEWAY_URL) reaches the gateways with long timeouts and the right scheme.
func (o *objects) checkIngress(t *testing.T) {
	_, cfg := o.chatgateConfig(t, o.deployments[httpName])
	u, err := url.Parse(cfg.GatewayURL)
	if err != nil || u.Host == "" {
		t.Fatalf("GATEWAY_URL %q: want an absolute ws(s) URL behind the Ingress", cfg.GatewayURL)
	}
	backend := func(ingName, host, path string) (svc, port string, tls bool) {
		ing, ok := o.ingresses[ingName]
		if !ok {
			t.Fatalf("ingress %s missing", ingName)
		}
		for _, tl := range ing.Spec.TLS {
			tls = tls || slices.Contains(tl.Hosts, host)
		}
		for _, r := range ing.Spec.Rules {
			if r.Host != host || r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Path == path && p.Backend.Service != nil {
					return p.Backend.Service.Name, p.Backend.Service.Port.Name, tls
				}
			}
		}
		t.Fatalf("ingress %s: no rule for %s%s", ingName, host, path)
		return
	}
	svc, port, _ := backend(pageIngress, u.Hostname(), "/")
	o.checkBackend(t, svc, port, httpName)
	svc, port, tls := backend(wsIngress, u.Hostname(), u.Path)
	o.checkBackend(t, svc, port, gatewayName)
	if want := map[bool]string{true: "wss", false: "ws"}[tls]; u.Scheme != want {
		t.Errorf("GATEWAY_URL scheme %q, want %q (Ingress TLS %v)", u.Scheme, want, tls)
	}
	ann := o.ingresses[wsIngress].Annotations
	idle := cfg.PingInterval * time.Duration(cfg.PingNotResponseLimit+1)
	for _, k := range []string{"nginx.ingress.kubernetes.io/proxy-read-timeout", "nginx.ingress.kubernetes.io/proxy-send-timeout"} {
		n, err := strconv.Atoi(ann[k])
		if err != nil || n < minProxyTimeout || time.Duration(n)*time.Second <= idle {
			t.Errorf("ingress %s: %s = %q, want >= %d s and above the heartbeat window %v", wsIngress, k, ann[k], minProxyTimeout, idle)
		}
	}
	for name, ing := range o.ingresses {
		for k := range ing.Annotations {
			if strings.Contains(k, "affinity") || strings.Contains(k, "upstream-hash-by") || strings.Contains(k, "session-cookie") {
				t.Errorf("ingress %s: annotation %s: chatgate needs no sticky sessions", name, k)
			}
		}
	}
}

func (o *objects) checkBackend(t *testing.T, svcName, portName, workload string) {
	t.Helper()
	svc, ok := o.services[svcName]
	if !ok {
		t.Fatalf("ingress backend service %s missing", svcName)
	}
	if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, &o.deployments[workload].Spec.Template) {
		t.Errorf("ingress backend %s does not select %s", svcName, workload)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == portName }) {
		t.Errorf("ingress backend %s has no port %q", svcName, portName)
	}
}

// checkInternalNotRouted: no Ingress path reaches a chatgate internal port
// (/metrics, /readyz, the push API), whatever Service and port it names.
func (o *objects) checkInternalNotRouted(t *testing.T) {
	internal := map[string]int32{} // workload → its internal port
	for name, role := range roles {
		_, cfg := o.chatgateConfig(t, o.deployments[name])
		_, internal[name] = ports(t, role, cfg)
	}
	for ingName, ing := range o.ingresses {
		var backends []*networkingv1.IngressServiceBackend
		if ing.Spec.DefaultBackend != nil {
			backends = append(backends, ing.Spec.DefaultBackend.Service)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				backends = append(backends, p.Backend.Service)
			}
		}
		for _, b := range backends {
			if b == nil {
				continue
			}
			svc, ok := o.services[b.Name]
			if !ok {
				t.Errorf("ingress %s: backend Service %s missing", ingName, b.Name)
				continue
			}
			for _, sp := range svc.Spec.Ports {
				if sp.Name != b.Port.Name && (b.Port.Number == 0 || sp.Port != b.Port.Number) {
					continue
				}
				for name, port := range internal {
					c := &o.deployments[name].Spec.Template.Spec.Containers[0]
					cp, ok := containerPort(c, sp.TargetPort.StrVal, sp.TargetPort.IntVal)
					if ok && cp.ContainerPort == port && selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, &o.deployments[name].Spec.Template) {
						t.Errorf("ingress %s routes to %s's internal port %d through Service %s", ingName, name, port, b.Name)
					}
				}
			}
		}
	}
}

// checkPushService: apps in the cluster reach the push API on the HTTP
// pods' internal port through a Service that no Ingress names.
func (o *objects) checkPushService(t *testing.T) {
	_, cfg := o.chatgateConfig(t, o.deployments[httpName])
	_, internal := ports(t, app.RoleHTTP, cfg)
	svc, ok := o.services[pushService]
	if !ok {
		t.Fatalf("Service %s (push API for apps in the cluster) missing", pushService)
	}
	c := &o.deployments[httpName].Spec.Template.Spec.Containers[0]
	if len(svc.Spec.Ports) != 1 || !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, &o.deployments[httpName].Spec.Template) {
		t.Fatalf("Service %s: want one port on the %s pods", pushService, httpName)
	}
	if cp, ok := containerPort(c, svc.Spec.Ports[0].TargetPort.StrVal, svc.Spec.Ports[0].TargetPort.IntVal); !ok || cp.ContainerPort != internal {
		t.Errorf("Service %s targets %s, not the internal port %d", pushService, svc.Spec.Ports[0].TargetPort.String(), internal)
	}
	for name, ing := range o.ingresses {
		for _, r := range ing.Spec.Rules {
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service != nil && p.Backend.Service.Name == pushService {
					t.Errorf("ingress %s routes to %s", name, pushService)
				}
			}
		}
	}
}

func TestManifestsMatchTheBinary(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			o := render(t, dir)
			for name := range roles {
				d, ok := o.deployments[name]
				if !ok {
					t.Fatalf("deployment %s missing", name)
				}
				t.Run(name, func(t *testing.T) { o.checkChatgate(t, d) })
			}
			for name, pod := range o.pods() {
				checkSecurity(t, name, pod)
			}
			o.checkServices(t)
			o.checkIngress(t)
			o.checkInternalNotRouted(t)
			o.checkPushService(t)
			for k, v := range o.configmaps {
				for key := range v.Data {
					if _, ok := flagsByEnv()[key]; !ok {
						t.Errorf("configmap %s: key %s is not a chatgate flag", k, key)
					}
				}
			}
		})
	}
}

// TestDevRunsItsOwnRedis: dev includes components/redis and points
// REDIS_URL at it; the base alone has no Redis (production adds none).
func TestDevRunsItsOwnRedis(t *testing.T) {
	t.Parallel()
	if o := render(t, "base"); len(o.statefulsets) != 0 || len(o.netpols) != 0 || o.services[redisName] != nil {
		t.Errorf("base: Redis objects %v %v; the in-cluster Redis is components/redis, which overlays include", keys(o.statefulsets), keys(o.netpols))
	}
	o := render(t, "overlays/dev")
	ss, ok := o.statefulsets[redisName]
	if !ok {
		t.Fatalf("dev: StatefulSet %s missing", redisName)
	}
	svc, ok := o.services[redisName]
	if !ok || svc.Spec.ClusterIP != corev1.ClusterIPNone || ss.Spec.ServiceName != redisName {
		t.Fatalf("dev: want headless Service %s governing the StatefulSet", redisName)
	}
	if _, ok := o.netpols[redisName]; !ok {
		t.Errorf("dev: NetworkPolicy %s missing (the in-cluster Redis has no password)", redisName)
	}
	for name := range roles {
		_, cfg := o.chatgateConfig(t, o.deployments[name])
		u, err := url.Parse(cfg.RedisURL)
		if err != nil || u.Hostname() != redisName || u.Port() != strconv.Itoa(int(svc.Spec.Ports[0].Port)) {
			t.Errorf("dev: %s REDIS_URL %q does not point at %s:%d", name, cfg.RedisURL, redisName, svc.Spec.Ports[0].Port)
		}
	}
}

// TestOverlaysTrustTheIngress: behind an Ingress every client connects from
// the controller's pods, so each overlay must name them in TRUSTED_PROXIES
// (else one user's per-IP limits lock out everyone), and only private
// networks (a public range would let anyone forge X-Forwarded-For).
func TestOverlaysTrustTheIngress(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{"overlays/dev", "overlays/production"} {
		t.Run(dir, func(t *testing.T) {
			t.Parallel()
			o := render(t, dir)
			for name := range roles {
				_, cfg := o.chatgateConfig(t, o.deployments[name])
				proxies, err := cfg.Proxies()
				if err != nil || len(proxies) == 0 {
					t.Errorf("%s: %s TRUSTED_PROXIES %q: want the ingress controller's pod CIDR (%v)", dir, name, cfg.TrustedProxies, err)
				}
				for _, p := range proxies {
					if p.Bits() < 8 || !p.Addr().IsPrivate() {
						t.Errorf("%s: %s trusts %s: want a private pod network, not a public or catch-all range", dir, name, p)
					}
				}
			}
		})
	}
}

func TestDevRunsOneOfEach(t *testing.T) {
	t.Parallel()
	o := render(t, "overlays/dev")
	for name, d := range o.deployments {
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("dev: %s replicas %v, want 1", name, d.Spec.Replicas)
		}
	}
	for name, s := range o.statefulsets {
		if s.Spec.Replicas == nil || *s.Spec.Replicas != 1 {
			t.Errorf("dev: %s replicas %v, want 1", name, s.Spec.Replicas)
		}
	}
}

// exportedMetrics is the set of metric names a gateway process serves.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New(&metrics.Options{NoRuntime: true})
	if err := m.WatchGateway(fakeGateway{}); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

type fakeGateway struct{}

func (fakeGateway) Stats() gateway.Stats { return gateway.Stats{} }

func TestProductionIsHardened(t *testing.T) {
	t.Parallel()
	o := render(t, "overlays/production")
	if len(o.statefulsets) != 0 {
		t.Errorf("production: StatefulSets %v; production uses an external Redis", keys(o.statefulsets))
	}
	for name, pod := range o.pods() {
		for _, c := range pod.Spec.Containers {
			r := c.Resources
			if r.Requests.Cpu().IsZero() || r.Requests.Memory().IsZero() || r.Limits.Cpu().IsZero() || r.Limits.Memory().IsZero() {
				t.Errorf("production: %s/%s needs cpu and memory requests and limits, got %+v", name, c.Name, r)
			}
			if strings.Contains(c.Image, "redis") {
				t.Errorf("production: %s runs %s; no in-cluster Redis", name, c.Image)
			}
			if _, tag, ok := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":"); (!ok || tag == "latest") && !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("production: %s image %q: pin a tag or digest", name, c.Image)
			}
		}
		if len(pod.Spec.TopologySpreadConstraints) == 0 {
			t.Errorf("production: %s has no topologySpreadConstraints", name)
		}
		for _, tsc := range pod.Spec.TopologySpreadConstraints {
			if tsc.LabelSelector == nil || !selects(t, tsc.LabelSelector, pod) {
				t.Errorf("production: %s: topology spread on %s does not select its own pods", name, tsc.TopologyKey)
			}
		}
	}
	for name := range roles {
		_, cfg := o.chatgateConfig(t, o.deployments[name])
		if u, _ := url.Parse(cfg.RedisURL); u == nil || strings.HasPrefix(u.Hostname(), redisName) {
			t.Errorf("production: %s REDIS_URL %q points at the in-cluster Redis", name, cfg.RedisURL)
		}
		pdb, ok := o.pdbs[name]
		if !ok || !selects(t, pdb.Spec.Selector, &o.deployments[name].Spec.Template) {
			t.Errorf("production: no PodDisruptionBudget selecting %s", name)
		}
		hpa, ok := o.hpas[name]
		if !ok || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != name {
			t.Errorf("production: no HorizontalPodAutoscaler for %s", name)
		}
	}
	hpa := o.hpas[gatewayName]
	served := exportedMetrics(t)
	var cpu, conns bool
	for _, m := range hpa.Spec.Metrics {
		switch {
		case m.Resource != nil && m.Resource.Name == corev1.ResourceCPU:
			cpu = true
		case m.Pods != nil:
			conns = served[m.Pods.Metric.Name] && strings.Contains(m.Pods.Metric.Name, "connections")
			if !served[m.Pods.Metric.Name] {
				t.Errorf("production: gateway HPA scales on %q, which /metrics does not serve", m.Pods.Metric.Name)
			}
		}
	}
	if !cpu || !conns {
		t.Errorf("production: gateway HPA must scale on CPU (%v) and on connections per pod (%v)", cpu, conns)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
