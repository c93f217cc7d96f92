package dev.kubemtls.bench.netty;

import dev.kubemtls.core.MaterialPublisher;
import dev.kubemtls.core.MtlsMaterial;
import dev.kubemtls.core.TlsIdentity;
import dev.kubemtls.core.TrustBundle;
import dev.kubemtls.netty.NettyMtls;
import dev.kubemtls.netty.ServerTls;
import dev.kubemtls.netty.TlsProvider;
import dev.kubemtls.testkit.TestCa;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
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
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import io.netty.handler.ssl.SupportedCipherSuiteFilter;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.KeyPair;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * Load harness on loopback, in one run: full mTLS handshakes per second (a new connection per
 * request) and requests per second on established connections, for four server designs and both
 * providers:
 *
 * <ul>
 *   <li>{@code static}: a plain Netty {@link SslContext} built once with the same key (baseline);
 *   <li>{@code reloading}: kube-mtls {@link ServerTls}, one context per material generation;
 *   <li>{@code listened}: the same, with a {@link dev.kubemtls.core.tls.TlsListener} that counts
 *       handshakes (the cost of reporting, against {@code reloading}'s {@code NO_OP});
 *   <li>{@code swapping}: one context with a key manager and trust manager that read the current
 *       snapshot per handshake (the java-spiffe / sslcontext-kickstart design).
 * </ul>
 *
 * <p>Arguments (all optional): {@code rounds warmupSeconds measureSeconds concurrency}; defaults
 * 3 1 3 4. Variants are measured round-robin, after one uncounted warm-up round, and the median of
 * the rounds is reported, so that a noisy shared machine skews every variant alike. The client
 * always uses a static context with the same provider as the server, and creates its engines
 * without a peer host so that no session is resumed: every connection is a full mTLS handshake.
 */
public final class MtlsLoadHarness {

  private static final byte[] REQUEST = "ping-0123456789abcdef0123456789abcdef0123456789abcdef\n"
      .getBytes(StandardCharsets.US_ASCII);
  private static final String HOST = "orders.shop.svc";
  private static final java.util.concurrent.atomic.LongAdder HANDSHAKES_SEEN =
      new java.util.concurrent.atomic.LongAdder();
  /** What a metrics binding would do: count each outcome. */
  private static final dev.kubemtls.core.tls.TlsListener HANDSHAKES = new dev.kubemtls.core.tls.TlsListener() {
    @Override
    public void handshakeSucceeded(Side side, java.util.Optional<dev.kubemtls.core.peer.PeerIdentity> peer,
        String protocol, String cipherSuite, java.time.Duration took) {
      HANDSHAKES_SEEN.increment();
    }

    @Override
    public void handshakeFailed(Side side, HandshakeFailure reason, Throwable cause, java.time.Duration took) {
      HANDSHAKES_SEEN.increment();
    }
  };

  private final int rounds;
  private final int warmupSeconds;
  private final int measureSeconds;
  private final int concurrency;
  private final EventLoopGroup serverGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final EventLoopGroup clientGroup = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
  private final MaterialPublisher serverSource;
  private final MtlsMaterial clientMaterial;
  private final TestCa ca;

  private MtlsLoadHarness(int rounds, int warmupSeconds, int measureSeconds, int concurrency) {
    this.rounds = rounds;
    this.warmupSeconds = warmupSeconds;
    this.measureSeconds = measureSeconds;
    this.concurrency = concurrency;
    ca = TestCa.create("bench CA");
    TrustBundle trust = new TrustBundle(List.of(ca.certificate()), "bench");
    serverSource = new MaterialPublisher(new MtlsMaterial(identity(
        b -> b.spiffe("shop", "orders").dns(HOST).ip("127.0.0.1")), trust, 1));
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
    MtlsLoadHarness h = new MtlsLoadHarness(rounds, warmup, measure, concurrency);
    try {
      h.run();
    } finally {
      h.serverGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
      h.clientGroup.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
    }
  }

  /** One server design with one provider, listening for the whole run. */
  private record Setup(String name, Channel server, InetSocketAddress address, SslContext client) {}

  private void run() throws Exception {
    System.out.printf(Locale.ROOT, "kube-mtls Netty load harness: %d cores, Java %s, %s; %d rounds of"
        + " (warm-up %ds + measure %ds) per variant and metric, interleaved; %d concurrent connections%n",
        Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"),
        System.getProperty("os.arch"), rounds, warmupSeconds, measureSeconds, concurrency);
    List<Setup> setups = new ArrayList<>();
    List<AutoCloseable> resources = new ArrayList<>();
    for (TlsProvider provider : List.of(TlsProvider.OPENSSL, TlsProvider.JDK)) {
      SslProvider netty = provider == TlsProvider.JDK ? SslProvider.JDK : SslProvider.OPENSSL;
      SslContext client = clientContext(netty);
      SslContext staticServer = staticServerContext(netty);
      setups.add(listen(provider + " static", ch -> staticServer.newHandler(ch.alloc()), client));
      ServerTls reloading = NettyMtls.forServer(serverSource).provider(provider).build();
      resources.add(reloading);
      setups.add(listen(provider + " reloading", ch -> reloading, client));
      ServerTls listened = NettyMtls.forServer(serverSource).provider(provider).listener(HANDSHAKES).build();
      resources.add(listened);
      setups.add(listen(provider + " listened", ch -> listened, client));
      SslContext swapping = swappingServerContext(netty);
      setups.add(listen(provider + " swapping", ch -> swapping.newHandler(ch.alloc()), client));
    }
    Map<String, List<Sample>> hs = new LinkedHashMap<>();
    Map<String, List<Sample>> rps = new LinkedHashMap<>();
    try {
      // Round 0 warms every code path up (JIT) and is not counted.
      for (int round = 0; round <= rounds; round++) {
        for (Setup s : setups) {
          Sample h = load(() -> new HandshakeLoad(s.address(), s.client()), round == 0);
          Sample r = load(() -> new RequestLoad(s.address(), s.client()), round == 0);
          if (round > 0) {
            hs.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(h);
            rps.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(r);
            System.out.printf(Locale.ROOT, "  round %d %-18s %8.0f handshakes/s (%6.0f per CPU-s)"
                + " %9.0f requests/s (%7.0f per CPU-s)%n", round, s.name(), h.perSecond(),
                h.perCpuSecond(), r.perSecond(), r.perCpuSecond());
          }
        }
      }
    } finally {
      for (Setup s : setups) {
        s.server().close().sync();
      }
      for (AutoCloseable r : resources) {
        r.close();
      }
    }
    System.out.println();
    System.out.printf(Locale.ROOT, "medians over %d rounds; ratios against the static context of the"
        + " same provider%n", rounds);
    System.out.printf(Locale.ROOT, "%-18s %12s %12s %12s %12s | %8s %8s %8s %8s%n", "server",
        "hs/s", "hs/CPU-s", "req/s", "req/CPU-s", "hs", "hs/CPU", "req", "req/CPU");
    for (String name : hs.keySet()) {
      String base = name.substring(0, name.indexOf(' ')) + " static";
      double[] v = figures(hs.get(name), rps.get(name));
      double[] b = figures(hs.get(base), rps.get(base));
      System.out.printf(Locale.ROOT, "%-18s %12.0f %12.0f %12.0f %12.0f | %8.3f %8.3f %8.3f %8.3f%n",
          name, v[0], v[1], v[2], v[3], v[0] / b[0], v[1] / b[1], v[2] / b[2], v[3] / b[3]);
    }
    System.out.printf(Locale.ROOT, "the counting listener of the 'listened' servers saw %d handshakes%n",
        HANDSHAKES_SEEN.sum());
  }

  private static double[] figures(List<Sample> hs, List<Sample> rps) {
    return new double[] {
        median(hs.stream().map(Sample::perSecond).toList()),
        median(hs.stream().map(Sample::perCpuSecond).toList()),
        median(rps.stream().map(Sample::perSecond).toList()),
        median(rps.stream().map(Sample::perCpuSecond).toList())};
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    sorted.sort(null);
    int n = sorted.size();
    return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
  }

  private SslContextBuilder hardened(SslContextBuilder b, SslProvider provider) {
    return b.sslProvider(provider).protocols("TLSv1.3", "TLSv1.2")
        .ciphers(List.of("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
            "TLS_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
            SupportedCipherSuiteFilter.INSTANCE);
  }

  private SslContext clientContext(SslProvider provider) throws Exception {
    TlsIdentity id = clientMaterial.identity();
    return hardened(SslContextBuilder.forClient(), provider).keyManager(id.privateKey(), id.chain())
        .trustManager(clientMaterial.trust().trustManager())
        // The client gives its engines no peer host (see Load#bootstrap), so no name to check.
        .endpointIdentificationAlgorithm(null)
        .build();
  }

  private SslContext staticServerContext(SslProvider provider) throws Exception {
    MtlsMaterial m = serverSource.current();
    return hardened(SslContextBuilder.forServer(m.identity().privateKey(), m.identity().chain()), provider)
        .trustManager(m.trust().trustManager()).clientAuth(ClientAuth.REQUIRE).build();
  }

  private SslContext swappingServerContext(SslProvider provider) throws Exception {
    return hardened(SslContextBuilder.forServer(new SwappingManagers.KeyManager(serverSource)), provider)
        .trustManager(new SwappingManagers.TrustManager(serverSource)).clientAuth(ClientAuth.REQUIRE)
        .build();
  }

  private Setup listen(String name, java.util.function.Function<Channel, ChannelHandler> tls,
      SslContext client) throws Exception {
    Channel server = new ServerBootstrap().group(serverGroup).channel(NioServerSocketChannel.class)
        .childHandler(new ChannelInitializer<Channel>() {
          @Override
          protected void initChannel(Channel ch) {
            ch.pipeline().addLast(tls.apply(ch), new LineBasedFrameDecoder(1024, false, false), new Echo());
          }
        })
        .bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
    InetSocketAddress address = new InetSocketAddress(
        InetAddress.getByAddress(HOST, new byte[] {127, 0, 0, 1}),
        ((InetSocketAddress) server.localAddress()).getPort());
    return new Setup(name, server, address, client);
  }

  /** Warms up, then counts completions per second over the measurement window. */
  /** Completions per wall-clock second and per second of this process's CPU time. */
  private record Sample(double perSecond, double perCpuSecond) {}

  private static final com.sun.management.OperatingSystemMXBean OS =
      (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
          .getOperatingSystemMXBean();

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
      throw new IllegalStateException(load.failed.get() + " requests failed");
    }
    return new Sample(done / seconds, done / cpuSeconds);
  }

  @ChannelHandler.Sharable
  private static final class Echo extends ChannelInboundHandlerAdapter {
    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
      ctx.writeAndFlush(msg);
    }

    @Override
    public boolean isSharable() {
      return true;
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
      ctx.close();
    }
  }

  private abstract class Load {
    final AtomicLong completed = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final List<Channel> channels = new ArrayList<>();
    volatile boolean running = true;
    final InetSocketAddress address;
    final SslContext client;

    Load(InetSocketAddress address, SslContext client) {
      this.address = address;
      this.client = client;
    }

    abstract void start(int connections) throws Exception;

    void stop() throws InterruptedException {
      running = false;
      synchronized (channels) {
        for (Channel ch : channels) {
          ch.close().sync();
        }
      }
    }

    Bootstrap bootstrap(ChannelInboundHandlerAdapter handler) {
      return new Bootstrap().group(clientGroup).channel(NioSocketChannel.class)
          .handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
              // No peer host: neither provider can look up a session to resume, so every
              // connection is a full handshake on both sides.
              ch.pipeline().addLast(client.newHandler(ch.alloc()),
                  new LineBasedFrameDecoder(1024), handler);
            }
          });
    }
  }

  /** Keeps {@code n} connections in flight: connect, handshake, one request, close, repeat. */
  private final class HandshakeLoad extends Load {
    HandshakeLoad(InetSocketAddress address, SslContext client) {
      super(address, client);
    }

    @Override
    void start(int connections) {
      for (int i = 0; i < connections; i++) {
        next();
      }
    }

    private void next() {
      if (!running) {
        return;
      }
      bootstrap(new OneShot()).connect(address).addListener(f -> {
        if (!f.isSuccess()) {
          failed.incrementAndGet();
        }
      });
    }

    private final class OneShot extends ChannelInboundHandlerAdapter {
      private boolean answered;

      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent e) {
          if (e.isSuccess()) {
            ctx.writeAndFlush(Unpooled.wrappedBuffer(REQUEST));
          } else {
            failed.incrementAndGet();
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

  /** {@code n} established connections, each sending the next request as soon as the echo arrives. */
  private final class RequestLoad extends Load {
    RequestLoad(InetSocketAddress address, SslContext client) {
      super(address, client);
    }

    @Override
    void start(int connections) throws Exception {
      for (int i = 0; i < connections; i++) {
        Channel ch = bootstrap(new PingPong()).connect(address).sync().channel();
        synchronized (channels) {
          channels.add(ch);
        }
      }
    }

    private final class PingPong extends ChannelInboundHandlerAdapter {
      @Override
      public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent e && e.isSuccess()) {
          ctx.writeAndFlush(Unpooled.wrappedBuffer(REQUEST));
        }
      }

      @Override
      public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ((ByteBuf) msg).release();
        completed.incrementAndGet();
        if (running) {
          ctx.writeAndFlush(Unpooled.wrappedBuffer(REQUEST));
        }
      }

      @Override
      public void channelInactive(ChannelHandlerContext ctx) {
        if (running) {
          failed.incrementAndGet();
        }
      }

      @Override
      public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
      }
    }
  }
}
