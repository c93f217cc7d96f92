package dev.kubemtls.bench.netty;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.netty.ClientTls;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.LineBasedFrameDecoder;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * Full mutual TLS handshakes per CPU-second, kube-mtls against a static Netty context and against
 * Go's {@code crypto/tls}, in one run. Every connection is a new TCP connection with a full TLS 1.3
 * handshake (EC P-256 certificates from one CA, key share x25519, no resumption), one line sent and
 * echoed, then closed; {@code connections} of them are kept in flight.
 *
 * <p>The Java variants run client and server in this process on one event-loop thread each; the
 * figures are per second of the process's CPU time (both ends, plus GC and JIT) and per second of
 * the server event loop's own thread CPU time (the server alone). The Go baseline
 * ({@link GoBaseline}: {@code src/main/go/handshake}, built with {@code go build} into
 * {@code target/}) reads the same PEM files this harness writes and runs twice: server and client
 * in one process (both ends), and server and client as two processes, whose server process's CPU is
 * the server alone.
 *
 * <p>Arguments (optional, in order): {@code rounds} (5), {@code warmupSeconds} (1),
 * {@code measureSeconds} (3), {@code connections} (4), {@code variants} (a comma-separated list of
 * name prefixes, default all). Variants are measured round-robin after one uncounted round;
 * medians are reported. {@code -Dbench.jdkResumption=true} lets the JDK kube-mtls client resume
 * sessions (counted as resumed) instead of emptying its session cache before each ClientHello.
 * System properties: {@code bench.go} (the go command, default {@code go}),
 * {@code bench.go.source} (the Go program's directory).
 */
public final class HandshakeHarness {

  private static final byte[] REQUEST = "ping-0123456789abcdef0123456789abcdef0123456789abcdef\n"
      .getBytes(StandardCharsets.US_ASCII);
  private static final String HOST = "orders.shop.svc";
  private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  /** Netty's package-private {@code isSessionReused}, looked up once netty-tcnative is loaded. */
  private static Method sessionReused;

  private final int rounds;
  private final int warmupSeconds;
  private final int measureSeconds;
  private final int connections;
  private final List<String> only;
  private final EventLoopGroup serverGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final EventLoopGroup clientGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final long serverThread;
  private final TestCa ca = TestCa.create("bench CA");
  private final MaterialPublisher serverSource;
  private final MaterialPublisher clientSource;
  private final AtomicLong resumed = new AtomicLong();
  /** The session cache of the JDK kube-mtls client, once it has made a handshake. */
  private volatile javax.net.ssl.SSLSessionContext jdkClientSessions;
  /** Key-exchange groups the OpenSSL clients negotiated, per variant. */
  private final Map<String, java.util.Set<String>> groups = new java.util.concurrent.ConcurrentHashMap<>();

  private HandshakeHarness(int rounds, int warmupSeconds, int measureSeconds, int connections,
      List<String> only) throws Exception {
    this.rounds = rounds;
    this.warmupSeconds = warmupSeconds;
    this.measureSeconds = measureSeconds;
    this.connections = connections;
    this.only = only;
    TrustBundle trust = new TrustBundle(List.of(ca.certificate()), "bench");
    serverSource = new MaterialPublisher(new MtlsMaterial(identity(
        b -> b.commonName("orders").spiffe("shop", "orders").dns(HOST).ip("127.0.0.1")), trust, 1));
    clientSource = new MaterialPublisher(new MtlsMaterial(identity(
        b -> b.commonName("web").spiffe("shop", "web").dns("web.shop.svc")), trust, 1));
    if (!io.netty.handler.ssl.OpenSsl.isAvailable()) {
      throw new IllegalStateException("netty-tcnative does not load here",
          io.netty.handler.ssl.OpenSsl.unavailabilityCause());
    }
    sessionReused = sessionReusedMethod();
    serverThread = serverGroup.submit(() -> Thread.currentThread().getId()).get();
    THREADS.setThreadCpuTimeEnabled(true);
  }

  private TlsIdentity identity(java.util.function.UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(spec.apply(ca.leaf(kp.getPublic())).build()), 1);
  }

  public static void main(String[] args) throws Exception {
    // Netty's OpenSSL clients keep sessions per host and port and resume them (ClientTls dials a
    // host); this harness measures full handshakes, so the client session cache is off. Read once,
    // when the first OpenSSL context class loads.
    System.setProperty("io.netty.handler.ssl.openssl.sessionCacheClient", "false");
    // -Dbench.nativeCrypto=true: ACCP first among the JCA providers, as NativeCrypto.install() does
    // for an application, so the JDK variants' SunJSSE takes its primitives from native code.
    if (Boolean.getBoolean("bench.nativeCrypto")) {
      dev.kubemtls.core.tls.NativeCrypto.Status s = dev.kubemtls.core.tls.NativeCrypto.install();
      if (!s.active()) {
        throw new IllegalStateException("bench.nativeCrypto=true but " + s.detail());
      }
    }
    System.out.println("JCA: " + dev.kubemtls.core.tls.NativeCrypto.status().detail()
        + "; ECDH from " + javax.crypto.KeyAgreement.getInstance("ECDH").getProvider().getName()
        + ", X25519 from " + javax.crypto.KeyAgreement.getInstance("X25519").getProvider().getName());
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    int measure = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    int connections = args.length > 3 ? Integer.parseInt(args[3]) : 4;
    List<String> only = args.length > 4 ? List.of(args[4].split(",")) : List.of();
    HandshakeHarness h = new HandshakeHarness(rounds, warmup, measure, connections, only);
    try {
      h.run();
    } finally {
      h.serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      h.clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  /** What one measurement window gave: handshakes, and the CPU of both ends and of the server. */
  record Sample(long handshakes, double wallSeconds, double cpuSeconds, double serverCpuSeconds) {
    double perCpu() {
      return handshakes / cpuSeconds;
    }

    double perServerCpu() {
      return handshakes / serverCpuSeconds;
    }

    double perWall() {
      return handshakes / wallSeconds;
    }
  }

  /** One variant: started once, then measured window by window. */
  interface Variant extends AutoCloseable {
    String name();

    void start() throws Exception;

    /** Starts a measurement window. */
    void mark() throws Exception;

    /** Ends the window opened by {@link #mark()}. */
    Sample report() throws Exception;

    /** Stops the load; the variant may be started again. */
    void stop() throws Exception;

    @Override
    default void close() throws Exception {}
  }

  private void run() throws Exception {
    Path dir = Files.createTempDirectory("kube-mtls-handshake");
    List<Variant> variants = new ArrayList<>();
    try {
      writePems(dir);
      Path go = GoBaseline.build();
      System.out.printf(Locale.ROOT, "kube-mtls handshake harness: %d cores, Java %s (%s), %s, %s;"
          + " load average %.2f; %d rounds of (warm-up %ds + measure %ds) per variant, interleaved;"
          + " %d concurrent connections%n", Runtime.getRuntime().availableProcessors(),
          System.getProperty("java.version"), System.getProperty("java.vm.name"),
          io.netty.handler.ssl.OpenSsl.versionString(), GoBaseline.version(), OS.getSystemLoadAverage(),
          rounds, warmupSeconds, measureSeconds, connections);
      for (Variant v : allVariants(go, dir)) {
        if (only.isEmpty() || only.stream().anyMatch(v.name()::startsWith)) {
          variants.add(v);
        } else {
          v.close();
        }
      }
      Map<String, List<Sample>> samples = new LinkedHashMap<>();
      for (int round = 0; round <= rounds; round++) {
        for (Variant v : variants) {
          v.start();
          TimeUnit.SECONDS.sleep(warmupSeconds);
          if (round == 0) {
            v.stop();
            continue;
          }
          v.mark();
          TimeUnit.SECONDS.sleep(measureSeconds);
          Sample s = v.report();
          v.stop();
          samples.computeIfAbsent(v.name(), k -> new ArrayList<>()).add(s);
          System.out.printf(Locale.ROOT, "  round %d %-28s %7.0f hs/s %7.0f hs/CPU-s %7.0f hs/server-CPU-s%n",
              round, v.name(), s.perWall(), s.perCpu(), s.perServerCpu());
        }
      }
      print(samples);
      System.out.printf(Locale.ROOT, "resumed handshakes seen: %d; groups negotiated"
          + " (OpenSSL clients): %s; load average at the end %.2f%n", resumed.get(), groups,
          OS.getSystemLoadAverage());
    } finally {
      for (Variant v : variants) {
        v.close();
      }
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private void print(Map<String, List<Sample>> samples) {
    System.out.println();
    System.out.printf(Locale.ROOT, "medians over %d rounds (both = the whole process or processes;"
        + " server = the server's own CPU)%n", rounds);
    System.out.printf(Locale.ROOT, "%-28s %9s %11s %13s | %8s %8s | %8s %8s%n", "variant", "hs/s",
        "hs/CPU-s", "hs/server-CPU", "both/Go", "srv/Go", "both/st", "srv/st");
    double[] go = medians(samples.get("go in-process"));
    double[] goSplit = medians(samples.get("go server + go client"));
    for (Map.Entry<String, List<Sample>> e : samples.entrySet()) {
      double[] m = medians(e.getValue());
      String name = e.getKey();
      double[] st = null;
      if (name.startsWith("OPENSSL") || name.startsWith("JDK")) {
        st = medians(samples.get(name.substring(0, name.indexOf(' ')) + " netty static"));
      }
      System.out.printf(Locale.ROOT, "%-28s %9.0f %11.0f %13.0f | %8s %8s | %8s %8s%n", name, m[0], m[1],
          m[2], ratio(m[1], go == null ? null : go[1]), ratio(m[2], goSplit == null ? null : goSplit[2]),
          ratio(m[1], st == null ? null : st[1]), ratio(m[2], st == null ? null : st[2]));
    }
  }

  private static String ratio(double v, Double base) {
    return base == null || base == 0 || Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v / base);
  }

  private static double[] medians(List<Sample> s) {
    if (s == null) {
      return null;
    }
    return new double[] {median(s.stream().map(Sample::perWall).toList()),
        median(s.stream().map(Sample::perCpu).toList()),
        median(s.stream().map(Sample::perServerCpu).toList())};
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  private List<Variant> allVariants(Path go, Path dir) throws Exception {
    List<Variant> v = new ArrayList<>();
    v.add(new GoBaseline("go in-process", go, dir, false, connections));
    v.add(new GoBaseline("go server + go client", go, dir, true, connections));
    for (TlsProvider provider : List.of(TlsProvider.OPENSSL, TlsProvider.JDK)) {
      SslProvider netty = provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL;
      SslContext staticClient = staticClientContext(netty);
      SslContext staticServer = staticServerContext(netty);
      v.add(new JavaVariant(provider + " netty static", ch -> staticServer.newHandler(ch.alloc()),
          ch -> staticClient.newHandler(ch.alloc()), List.of()));
      if (provider == TlsProvider.OPENSSL) {
        // Netty's defaults let BoringSSL negotiate its post-quantum hybrid X25519MLKEM768; this one
        // is pinned to x25519 like kube-mtls' policy and the Go baseline (same shape).
        SslContext x25519Client = staticClientContext(netty, true);
        SslContext x25519Server = staticServerContext(netty, true);
        v.add(new JavaVariant(provider + " netty static x25519", ch -> x25519Server.newHandler(ch.alloc()),
            ch -> x25519Client.newHandler(ch.alloc()), List.of()));
      }
      ServerTls server = NettyMtls.forServer(serverSource).provider(provider).build();
      v.add(new JavaVariant(provider + " ServerTls", ch -> server, ch -> staticClient.newHandler(ch.alloc()),
          List.of(server)));
      // Both ends kube-mtls. The client dials HOST, so it verifies the name; resumption is
      // counted (it would make the figure meaningless) and reported. A JDK client would resume
      // from its session cache, which is emptied before each ClientHello (ForgetSessions).
      ServerTls server2 = NettyMtls.forServer(serverSource).provider(provider).build();
      ClientTls client = NettyMtls.forClient(clientSource).provider(provider).build();
      v.add(new JavaVariant(provider + " ServerTls+ClientTls", ch -> server2, ch -> client,
          List.of(server2, client)));
      if (provider == TlsProvider.JDK) {
        // The same with the client's X25519 key share kept (which kube-mtls leaves out when native
        // crypto is on and X25519 is not native): what that choice buys, in this run.
        System.setProperty(dev.kubemtls.core.internal.JdkTls.OFFER_XDH_PROPERTY, "true");
        ClientTls withShare;
        try {
          withShare = NettyMtls.forClient(clientSource).provider(provider).build();
        } finally {
          System.clearProperty(dev.kubemtls.core.internal.JdkTls.OFFER_XDH_PROPERTY);
        }
        ServerTls server3 = NettyMtls.forServer(serverSource).provider(provider).build();
        v.add(new JavaVariant(provider + " ServerTls+ClientTls/x25519", ch -> server3, ch -> withShare,
            List.of(server3, withShare)));
      }
    }
    // Conscrypt: a whole JSSE provider on BoringSSL, through Netty's JDK path (Netty drives a
    // Conscrypt engine when the SSLContext comes from its provider). The same hardened settings.
    java.security.Provider conscrypt = org.conscrypt.Conscrypt.newProvider();
    SslContext conscryptClient = staticClientContext(SslProvider.JDK, conscrypt);
    SslContext conscryptServer = staticServerContext(SslProvider.JDK, conscrypt);
    v.add(new JavaVariant("CONSCRYPT netty static", ch -> conscryptServer.newHandler(ch.alloc()),
        ch -> conscryptClient.newHandler(ch.alloc()), List.of()));
    return v;
  }

  // ---------------------------------------------------------------------------------------------
  // Material and contexts

  private void writePems(Path dir) throws IOException {
    Files.writeString(dir.resolve("ca.pem"), TestCa.toPem(ca.certificate()));
    writePair(dir, "server", serverSource.current().identity());
    writePair(dir, "client", clientSource.current().identity());
  }

  private static void writePair(Path dir, String name, TlsIdentity id) throws IOException {
    StringBuilder chain = new StringBuilder();
    for (X509Certificate c : id.chain()) {
      chain.append(TestCa.toPem(c));
    }
    Files.writeString(dir.resolve(name + ".pem"), chain);
    Files.writeString(dir.resolve(name + "-key.pem"), TestCa.toPem(id.privateKey()));
  }

  private static SslContextBuilder hardened(SslContextBuilder b, SslProvider provider) {
    return b.sslProvider(provider).protocols("TLSv1.3", "TLSv1.2")
        .ciphers(List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            SupportedCipherSuiteFilter.INSTANCE);
  }

  private SslContext staticClientContext(SslProvider provider) throws Exception {
    return staticClientContext(provider, false);
  }

  private SslContext staticServerContext(SslProvider provider) throws Exception {
    return staticServerContext(provider, false);
  }

  private static SslContextBuilder groups(SslContextBuilder b, boolean x25519) {
    return x25519 ? b.option(io.netty.handler.ssl.OpenSslContextOption.GROUPS, new String[] {"x25519"}) : b;
  }

  private SslContext staticClientContext(SslProvider provider, java.security.Provider jsse) throws Exception {
    MtlsMaterial m = clientSource.current();
    return hardened(SslContextBuilder.forClient(), provider).sslContextProvider(jsse)
        .keyManager(m.identity().privateKey(), m.identity().chain())
        .trustManager(trustFrom(jsse, m))
        .endpointIdentificationAlgorithm(null)
        .build();
  }

  private SslContext staticServerContext(SslProvider provider, java.security.Provider jsse) throws Exception {
    MtlsMaterial m = serverSource.current();
    return hardened(SslContextBuilder.forServer(m.identity().privateKey(), m.identity().chain()), provider)
        .sslContextProvider(jsse)
        .trustManager(trustFrom(jsse, m)).clientAuth(ClientAuth.REQUIRE).build();
  }

  /**
   * The provider's own PKIX trust manager over the same CAs: Conscrypt names the TLS 1.3 key
   * exchange "GENERIC", which SunJSSE's trust manager (under kube-mtls') refuses as an unknown
   * auth type.
   */
  private static javax.net.ssl.TrustManagerFactory trustFrom(java.security.Provider jsse, MtlsMaterial m)
      throws Exception {
    java.security.KeyStore ks = java.security.KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    int i = 0;
    for (X509Certificate c : m.trust().certificates()) {
      ks.setCertificateEntry("ca" + i++, c);
    }
    javax.net.ssl.TrustManagerFactory tmf = javax.net.ssl.TrustManagerFactory.getInstance("PKIX", jsse);
    tmf.init(ks);
    return tmf;
  }

  private SslContext staticClientContext(SslProvider provider, boolean x25519) throws Exception {
    MtlsMaterial m = clientSource.current();
    return groups(hardened(SslContextBuilder.forClient(), provider), x25519)
        .keyManager(m.identity().privateKey(), m.identity().chain())
        .trustManager(m.trust().trustManager())
        // Engines get no peer host (so nothing to resume and no name to check).
        .endpointIdentificationAlgorithm(null)
        .build();
  }

  private SslContext staticServerContext(SslProvider provider, boolean x25519) throws Exception {
    MtlsMaterial m = serverSource.current();
    return groups(hardened(SslContextBuilder.forServer(m.identity().privateKey(), m.identity().chain()),
        provider), x25519)
        .trustManager(m.trust().trustManager()).clientAuth(ClientAuth.REQUIRE).build();
  }

  // ---------------------------------------------------------------------------------------------
  // Java variants

  private final class JavaVariant implements Variant {
    private final String name;
    private final Function<Channel, ChannelHandler> serverTls;
    private final Function<Channel, ChannelHandler> clientTls;
    private final List<AutoCloseable> resources;
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private Channel server;
    private InetSocketAddress address;
    private volatile boolean running;
    private long n0;
    private long t0;
    private long cpu0;
    private long serverCpu0;

    JavaVariant(String name, Function<Channel, ChannelHandler> serverTls,
        Function<Channel, ChannelHandler> clientTls, List<AutoCloseable> resources) {
      this.name = name;
      this.serverTls = serverTls;
      this.clientTls = clientTls;
      this.resources = resources;
    }

    @Override
    public String name() {
      return name;
    }

    @Override
    public void start() throws Exception {
      if (server == null) {
        server = new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
            .childHandler(new ChannelInitializer<Channel>() {
              @Override
              protected void initChannel(Channel ch) {
                ch.pipeline().addLast(serverTls.apply(ch), new LineBasedFrameDecoder(1024, false, false),
                    new Echo());
              }
            })
            .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        address = new InetSocketAddress(InetAddress.getByAddress(HOST, new byte[] {127, 0, 0, 1}),
            ((InetSocketAddress) server.localAddress()).getPort());
      }
      running = true;
      for (int i = 0; i < connections; i++) {
        next();
      }
    }

    private void next() {
      if (!running) {
        return;
      }
      new Bootstrap().group(clientGroup).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              ch.pipeline().addLast(new ForgetSessions(), clientTls.apply(ch), new LineBasedFrameDecoder(1024),
                  new OneShot());
            }
          })
          .connect(address).addListener(f -> {
            if (!f.isSuccess()) {
              failed.incrementAndGet();
            }
          });
    }

    @Override
    public void mark() {
      n0 = completed.get();
      cpu0 = OS.getProcessCpuTime();
      serverCpu0 = THREADS.getThreadCpuTime(serverThread);
      t0 = System.nanoTime();
    }

    @Override
    public Sample report() {
      long n = completed.get() - n0;
      double wall = (System.nanoTime() - t0) / 1e9;
      double cpu = (OS.getProcessCpuTime() - cpu0) / 1e9;
      double serverCpu = (THREADS.getThreadCpuTime(serverThread) - serverCpu0) / 1e9;
      if (failed.get() > 0) {
        throw new IllegalStateException(name + ": " + failed.get() + " connections failed");
      }
      return new Sample(n, wall, cpu, serverCpu);
    }

    @Override
    public void stop() throws Exception {
      running = false;
      // Let the connections in flight finish, so that the next variant starts on idle loops.
      // (At most 5 s: a count that still moves then is measured all the same.)
      long[] last = {-1};
      try {
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
            .pollInterval(java.time.Duration.ofMillis(100)).until(() -> {
              long now = completed.get() + failed.get();
              boolean settled = now == last[0];
              last[0] = now;
              return settled;
            });
      } catch (org.awaitility.core.ConditionTimeoutException stillMoving) {
        // the next variant starts anyway
      }
    }

    @Override
    public void close() throws Exception {
      if (server != null) {
        server.close().sync();
      }
      for (AutoCloseable r : resources) {
        r.close();
      }
    }

    /**
     * Before a client's TLS handler starts its handshake (on the client's one event-loop thread, so
     * no ticket arrives in between): invalidates the sessions a JDK client cached, so that it makes
     * a full handshake. OpenSSL clients keep none here; static clients dial no host.
     */
    private final class ForgetSessions extends ChannelInboundHandlerAdapter {
      @Override
      public void channelActive(ChannelHandlerContext ctx) {
        javax.net.ssl.SSLSessionContext sessions = jdkClientSessions;
        if (sessions != null && !Boolean.getBoolean("bench.jdkResumption")) {
          for (java.util.Enumeration<byte[]> ids = sessions.getIds(); ids.hasMoreElements(); ) {
            javax.net.ssl.SSLSession cached = sessions.getSession(ids.nextElement());
            if (cached != null) {
              cached.invalidate();
            }
          }
        }
        ctx.fireChannelActive();
      }
    }

    private final class OneShot extends ChannelInboundHandlerAdapter {
      private final long createdMillis = System.currentTimeMillis();
      private boolean answered;

      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent e) {
          if (e.isSuccess()) {
            countResumption(name, ctx.pipeline().get(SslHandler.class), createdMillis);
            ctx.writeAndFlush(Unpooled.wrappedBuffer(REQUEST));
          } else {
            if (failed.getAndIncrement() == 0) {
              System.err.println(name + ": first failed handshake: " + e.cause());
            }
            ctx.close();
          }
        }
      }

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ReferenceCountUtil.release(msg);
        answered = true;
        completed.incrementAndGet();
        ctx.close();
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        if (!answered && running) {
          failed.incrementAndGet();
        }
        next();
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
      }
    }
  }

  private void countResumption(String variant, SslHandler ssl, long channelCreatedMillis) {
    if (ssl != null && !(ssl.engine() instanceof io.netty.handler.ssl.ReferenceCountedOpenSslEngine)) {
      // SunJSSE: a resumed session is the earlier one, created before this channel was.
      javax.net.ssl.SSLSession session = ssl.engine().getSession();
      if (session.getCreationTime() < channelCreatedMillis) {
        resumed.incrementAndGet();
      }
      if (ssl.engine().getUseClientMode() && session.getSessionContext() != null) {
        jdkClientSessions = session.getSessionContext();
      }
      return;
    }
    if (ssl == null || sessionReused == null
        || !sessionReused.getDeclaringClass().isInstance(ssl.engine())) {
      return;
    }
    try {
      if ((Boolean) sessionReused.invoke(ssl.engine())) {
        resumed.incrementAndGet();
      }
      long pointer = ((io.netty.handler.ssl.ReferenceCountedOpenSslEngine) ssl.engine()).sslPointer();
      String group = io.netty.internal.tcnative.SSL.getGroupName(pointer);
      groups.computeIfAbsent(variant, k -> java.util.concurrent.ConcurrentHashMap.newKeySet()).add(group);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static Method sessionReusedMethod() {
    try {
      Method m = Class.forName("io.netty.handler.ssl.ReferenceCountedOpenSslEngine")
          .getDeclaredMethod("isSessionReused");
      m.setAccessible(true);
      return m;
    } catch (ReflectiveOperationException | RuntimeException e) {
      return null;
    }
  }

  @ChannelHandler.Sharable
  private static final class Echo extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.writeAndFlush(msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }
}
