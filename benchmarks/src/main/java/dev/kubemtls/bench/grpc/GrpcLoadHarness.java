package dev.kubemtls.bench.grpc;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.grpc.GrpcMtls;
import dev.kubemtls.grpc.GrpcServerTls;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.grpc.CallOptions;
import io.grpc.ChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.NettySslContextChannelCredentials;
import io.grpc.netty.NettySslContextServerCredentials;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.ApplicationProtocolNegotiator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslProvider;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.security.KeyPair;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSessionContext;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * gRPC load harness on loopback, in one run: full mTLS handshakes (a new channel per call) and unary
 * calls on established channels, per wall-clock second and per CPU-second of the process, for three
 * server credentials and both providers:
 *
 * <ul>
 *   <li>{@code static}: grpc-netty credentials from a Netty {@link SslContext} built once with the
 *       same key and CA (the baseline);
 *   <li>{@code rotating}: kube-mtls {@link GrpcServerTls} (one context per material generation, its
 *       peer interceptor and transport filter);
 *   <li>{@code advanced}: grpc's own rotating managers, {@link AdvancedTlsX509KeyManager} and
 *       {@link AdvancedTlsX509TrustManager}, in one context (what {@code TlsServerCredentials} with
 *       them builds, here with the provider chosen explicitly).
 * </ul>
 *
 * <p>Arguments (all optional): {@code rounds warmupSeconds measureSeconds concurrency}; defaults
 * 3 1 3 4. Variants are measured round-robin after two uncounted warm-up rounds, each round
 * starting at the next variant; the median of the rounds is reported, so a noisy machine skews every variant alike. The client is the same for all
 * (a static context of the server's provider) and makes its engines without a peer host, so that no
 * session is resumed: every new channel is a full mTLS handshake.
 */
public final class GrpcLoadHarness {

  private static final MethodDescriptor.Marshaller<byte[]> BYTES = new MethodDescriptor.Marshaller<>() {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  };

  private static final MethodDescriptor<byte[], byte[]> ECHO = MethodDescriptor.<byte[], byte[]>newBuilder()
      .setType(MethodDescriptor.MethodType.UNARY).setFullMethodName("bench.Echo/Unary")
      .setRequestMarshaller(BYTES).setResponseMarshaller(BYTES).build();

  private static final byte[] REQUEST = "ping-0123456789abcdef0123456789abcdef".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

  private final int rounds;
  private final int warmupSeconds;
  private final int measureSeconds;
  private final int concurrency;
  private final EventLoopGroup serverGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final EventLoopGroup clientGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final TestCa ca = TestCa.create("bench CA");
  private final MaterialPublisher serverSource;
  private final MtlsMaterial clientMaterial;

  private GrpcLoadHarness(int rounds, int warmupSeconds, int measureSeconds, int concurrency) {
    this.rounds = rounds;
    this.warmupSeconds = warmupSeconds;
    this.measureSeconds = measureSeconds;
    this.concurrency = concurrency;
    TrustBundle trust = new TrustBundle(List.of(ca.certificate()), "bench");
    serverSource = new MaterialPublisher(new MtlsMaterial(identity(
        b -> b.spiffe("shop", "orders").dns("orders.shop.svc").ip("127.0.0.1")), trust, 1));
    clientMaterial = new MtlsMaterial(identity(b -> b.spiffe("shop", "web")), trust, 1);
  }

  private TlsIdentity identity(java.util.function.UnaryOperator<TestCa.LeafBuilder> spec) {
    KeyPair kp = TestCa.newKeyPair();
    return new TlsIdentity(kp.getPrivate(), List.of(spec.apply(ca.leaf(kp.getPublic())).build()), 1);
  }

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int warmup = args.length > 1 ? Integer.parseInt(args[1]) : 1;
    int measure = args.length > 2 ? Integer.parseInt(args[2]) : 3;
    int concurrency = args.length > 3 ? Integer.parseInt(args[3]) : 4;
    GrpcLoadHarness h = new GrpcLoadHarness(rounds, warmup, measure, concurrency);
    try {
      h.run();
    } finally {
      h.serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      h.clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  private record Setup(String name, Server server, ChannelCredentials client) {
    InetSocketAddress address() {
      return new InetSocketAddress("127.0.0.1", server.getPort());
    }
  }

  private record Sample(double perSecond, double perCpuSecond) {}

  private void run() throws Exception {
    System.out.printf(Locale.ROOT, "kube-mtls gRPC load harness: %d cores, Java %s, %s, load average %.2f;"
        + " %d rounds of (warm-up %ds + measure %ds) per variant and metric, interleaved; %d concurrent"
        + " channels%n", Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
        System.getProperty("os.arch"), OS.getSystemLoadAverage(), rounds, warmupSeconds, measureSeconds, concurrency);
    List<Setup> setups = new ArrayList<>();
    List<AutoCloseable> resources = new ArrayList<>();
    for (TlsProvider provider : List.of(TlsProvider.OPENSSL, TlsProvider.JDK)) {
      SslProvider netty = provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL;
      ChannelCredentials client = NettySslContextChannelCredentials.create(new NoPeerHost(clientContext(netty)));
      setups.add(listen(provider + " static", NettySslContextServerCredentials.create(staticServer(netty)), null, client));
      GrpcServerTls rotating = GrpcMtls.forServer(serverSource).provider(provider).noMaxConnectionAge().build();
      resources.add(rotating);
      setups.add(listen(provider + " rotating", rotating.credentials(), rotating, client));
      setups.add(listen(provider + " advanced", NettySslContextServerCredentials.create(advancedServer(netty)), null, client));
    }
    Map<String, List<Sample>> hs = new LinkedHashMap<>();
    Map<String, List<Sample>> calls = new LinkedHashMap<>();
    try {
      // Rounds 0 and 1 warm every code path up (grpc's take long to compile) and are not counted;
      // each round starts at another variant, so that none always runs right after a warm-up.
      for (int round = -1; round <= rounds; round++) {
        for (int i = 0; i < setups.size(); i++) {
          Setup s = setups.get(Math.floorMod(i + round, setups.size()));
          Sample h = load(() -> new HandshakeLoad(s), round <= 0);
          Sample c = load(() -> new CallLoad(s), round <= 0);
          if (round > 0) {
            hs.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(h);
            calls.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(c);
            System.out.printf(Locale.ROOT, "  round %d %-16s %7.0f handshakes/s (%6.0f per CPU-s) %8.0f calls/s"
                + " (%7.0f per CPU-s)%n", round, s.name(), h.perSecond(), h.perCpuSecond(), c.perSecond(),
                c.perCpuSecond());
          }
        }
      }
    } finally {
      for (Setup s : setups) {
        s.server().shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
      for (AutoCloseable r : resources) {
        r.close();
      }
    }
    System.out.println();
    System.out.printf(Locale.ROOT, "medians over %d rounds; ratios against the static credentials of the"
        + " same provider; load average now %.2f%n", rounds, OS.getSystemLoadAverage());
    System.out.printf(Locale.ROOT, "%-16s %10s %10s %10s %10s | %7s %7s %7s %7s%n", "server", "hs/s", "hs/CPU-s",
        "calls/s", "calls/CPU-s", "hs", "hs/CPU", "calls", "c/CPU");
    for (String name : hs.keySet()) {
      String base = name.substring(0, name.indexOf(' ')) + " static";
      double[] v = figures(hs.get(name), calls.get(name));
      double[] b = figures(hs.get(base), calls.get(base));
      System.out.printf(Locale.ROOT, "%-16s %10.0f %10.0f %10.0f %10.0f | %7.3f %7.3f %7.3f %7.3f%n", name,
          v[0], v[1], v[2], v[3], v[0] / b[0], v[1] / b[1], v[2] / b[2], v[3] / b[3]);
    }
  }

  private static double[] figures(List<Sample> hs, List<Sample> calls) {
    return new double[] {
        median(hs.stream().map(Sample::perSecond).toList()), median(hs.stream().map(Sample::perCpuSecond).toList()),
        median(calls.stream().map(Sample::perSecond).toList()), median(calls.stream().map(Sample::perCpuSecond).toList())};
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  private SslContextBuilder hardened(SslContextBuilder b, SslProvider provider) {
    return GrpcSslContexts.configure(b, provider).protocols("TLSv1.3", "TLSv1.2");
  }

  private SslContext clientContext(SslProvider provider) throws Exception {
    TlsIdentity id = clientMaterial.identity();
    return hardened(SslContextBuilder.forClient(), provider).keyManager(id.privateKey(), id.chain())
        .trustManager(new ChainOnly(clientMaterial.trust().trustManager())).build();
  }

  private SslContext staticServer(SslProvider provider) throws Exception {
    MtlsMaterial m = serverSource.current();
    return hardened(SslContextBuilder.forServer(m.identity().privateKey(), m.identity().chain()), provider)
        .trustManager(m.trust().trustManager()).clientAuth(ClientAuth.REQUIRE).build();
  }

  private SslContext advancedServer(SslProvider provider) throws Exception {
    MtlsMaterial m = serverSource.current();
    AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
    keys.updateIdentityCredentials(m.identity().chain().toArray(X509Certificate[]::new), m.identity().privateKey());
    AdvancedTlsX509TrustManager trust = AdvancedTlsX509TrustManager.newBuilder()
        .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION).build();
    trust.updateTrustCredentials(m.trust().certificates().toArray(X509Certificate[]::new));
    return hardened(SslContextBuilder.forServer(keys), provider).trustManager(trust)
        .clientAuth(ClientAuth.REQUIRE).build();
  }

  private Setup listen(String name, ServerCredentials credentials, GrpcServerTls kubeMtls, ChannelCredentials client)
      throws IOException {
    NettyServerBuilder b = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0), credentials)
        .bossEventLoopGroup(serverGroup).workerEventLoopGroup(serverGroup)
        .channelType(NioServerSocketChannel.class).directExecutor()
        .addService(ServerServiceDefinition.builder("bench.Echo")
            .addMethod(ECHO, ServerCalls.asyncUnaryCall((byte[] req, StreamObserver<byte[]> out) -> {
              out.onNext(req);
              out.onCompleted();
            })).build());
    if (kubeMtls != null) {
      b.intercept(kubeMtls.interceptor()).addTransportFilter(kubeMtls.transportFilter());
    }
    return new Setup(name, b.build().start(), client);
  }

  private ManagedChannel channel(Setup s) {
    return NettyChannelBuilder.forAddress(s.address(), s.client())
        .eventLoopGroup(clientGroup).channelType(NioSocketChannel.class).directExecutor().build();
  }

  private Sample load(Supplier<Load> factory, boolean warmupOnly) throws Exception {
    Load load = factory.get();
    load.start(concurrency);
    TimeUnit.SECONDS.sleep(warmupSeconds);
    if (warmupOnly) {
      load.stop();
      return new Sample(0, 0);
    }
    long before = load.completed.get();
    long cpu0 = OS.getProcessCpuTime();
    long t0 = System.nanoTime();
    TimeUnit.SECONDS.sleep(measureSeconds);
    long done = load.completed.get() - before;
    double seconds = (System.nanoTime() - t0) / 1e9;
    double cpuSeconds = (OS.getProcessCpuTime() - cpu0) / 1e9;
    load.stop();
    if (load.failed.get() > 0) {
      throw new IllegalStateException(load.failed.get() + " calls failed: " + load.firstFailure);
    }
    return new Sample(done / seconds, done / cpuSeconds);
  }

  private abstract class Load {
    final AtomicLong completed = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    volatile Throwable firstFailure;
    volatile boolean running = true;
    final Setup setup;

    Load(Setup setup) {
      this.setup = setup;
    }

    abstract void start(int n);

    void stop() throws InterruptedException {
      running = false;
    }

    void fail(Throwable t) {
      if (running) {
        failed.incrementAndGet();
        if (firstFailure == null) {
          firstFailure = t;
        }
      }
    }
  }

  /** {@code n} loops of: a new channel (a full handshake), one call, shut the channel down. */
  private final class HandshakeLoad extends Load {
    HandshakeLoad(Setup s) {
      super(s);
    }

    @Override
    void start(int n) {
      for (int i = 0; i < n; i++) {
        next();
      }
    }

    private void next() {
      if (!running) {
        return;
      }
      ManagedChannel ch = channel(setup);
      ClientCalls.asyncUnaryCall(ch.newCall(ECHO, CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS)),
          REQUEST, new StreamObserver<>() {
            @Override
            public void onNext(byte[] value) {
              completed.incrementAndGet();
            }

            @Override
            public void onError(Throwable t) {
              fail(t);
              ch.shutdownNow();
              next();
            }

            @Override
            public void onCompleted() {
              ch.shutdownNow();
              next();
            }
          });
    }
  }

  /** {@code n} long-lived channels, each making the next call when the previous one answered. */
  private final class CallLoad extends Load {
    private final List<ManagedChannel> channels = new ArrayList<>();

    CallLoad(Setup s) {
      super(s);
    }

    @Override
    void start(int n) {
      for (int i = 0; i < n; i++) {
        ManagedChannel ch = channel(setup);
        channels.add(ch);
        next(ch);
      }
    }

    private void next(ManagedChannel ch) {
      if (!running) {
        return;
      }
      ClientCalls.asyncUnaryCall(ch.newCall(ECHO, CallOptions.DEFAULT.withDeadlineAfter(30, TimeUnit.SECONDS)),
          REQUEST, new StreamObserver<>() {
            @Override
            public void onNext(byte[] value) {
              completed.incrementAndGet();
            }

            @Override
            public void onError(Throwable t) {
              fail(t);
            }

            @Override
            public void onCompleted() {
              next(ch);
            }
          });
    }

    @Override
    void stop() throws InterruptedException {
      super.stop();
      for (ManagedChannel ch : channels) {
        ch.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * The client's context, making engines without the peer host so that neither provider finds a
   * session to resume: every new channel is a full handshake.
   */
  private static final class NoPeerHost extends SslContext {
    private final SslContext delegate;

    NoPeerHost(SslContext delegate) {
      this.delegate = delegate;
    }

    @Override
    public boolean isClient() {
      return true;
    }

    @Override
    public List<String> cipherSuites() {
      return delegate.cipherSuites();
    }

    @Override
    @SuppressWarnings("deprecation")
    public ApplicationProtocolNegotiator applicationProtocolNegotiator() {
      return delegate.applicationProtocolNegotiator();
    }

    @Override
    public SSLEngine newEngine(ByteBufAllocator alloc) {
      return delegate.newEngine(alloc);
    }

    @Override
    public SSLEngine newEngine(ByteBufAllocator alloc, String peerHost, int peerPort) {
      return delegate.newEngine(alloc);
    }

    @Override
    public SSLSessionContext sessionContext() {
      return delegate.sessionContext();
    }
  }

  /** Checks the server's chain against the CA, and no name: the engines have no peer host to check. */
  private static final class ChainOnly extends X509ExtendedTrustManager {
    private final X509TrustManager pkix;

    ChainOnly(X509TrustManager pkix) {
      this.pkix = pkix;
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      pkix.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      pkix.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      pkix.checkServerTrusted(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      throw new CertificateException("client side only");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return pkix.getAcceptedIssuers();
    }
  }
}
