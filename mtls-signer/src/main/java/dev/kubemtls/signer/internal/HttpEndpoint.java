package dev.kubemtls.signer.internal;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A minimal plain-HTTP/1.x server for probes and metrics that no client can starve: one selector
 * thread reads every connection without blocking, so a client that sends half a request and waits
 * holds nothing but its own socket; a connection that has not sent its whole request head within
 * {@link #REQUEST_TIMEOUT} is closed; at most {@link #MAX_CONNECTIONS} are open, and a new one closes
 * the oldest; a request head is at most {@link #MAX_HEAD_BYTES}. Each response closes its connection.
 *
 * <p>Routes are {@code GET}/{@code HEAD} only. A route is either <em>quick</em>, answered on the
 * selector thread (it must not block: the probes read volatile state only), or <em>slow</em>, computed
 * on a separate single thread (a Prometheus scrape) and written back by the selector thread, so a slow
 * scrape never delays a probe.
 *
 * <p>Why not the JDK's {@code HttpServer}: it reads request heads on its executor's threads with no
 * timeout of its own (only JVM-wide system properties), so a few half-sent requests held every
 * thread and {@code /livez} stopped answering.
 */
public final class HttpEndpoint implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(HttpEndpoint.class);

  /** How long a connection may take to send its request head and read the answer. */
  public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(5);
  /** The most connections open at once; a new one closes the oldest. */
  public static final int MAX_CONNECTIONS = 64;
  /** The longest request head (request line and headers) read. */
  public static final int MAX_HEAD_BYTES = 8 * 1024;

  /** An answer: status, body and content type. */
  public record Response(int status, String body, String contentType) {
    /** A plain-text answer; a newline is appended. */
    public static Response text(int status, String body) {
      return new Response(status, body + "\n", "text/plain; charset=utf-8");
    }
  }

  /** A route: quick (on the selector thread, must not block) or slow (on the slow thread). */
  public record Route(Supplier<Response> handler, boolean slow) {
    public Route {
      Objects.requireNonNull(handler, "handler");
    }
  }

  private final ServerSocketChannel server;
  private final Selector selector;
  private final Map<String, Route> routes;
  private final String notFound;
  private final Thread thread;
  private final ExecutorService slow;
  private final Queue<Runnable> pending = new ConcurrentLinkedQueue<>();
  /** Open connections, oldest first (only the selector thread touches it). */
  private final ArrayDeque<SelectionKey> connections = new ArrayDeque<>();
  private volatile boolean closed;

  private HttpEndpoint(ServerSocketChannel server, Selector selector, Map<String, Route> routes, String name) {
    this.server = server;
    this.selector = selector;
    this.routes = Map.copyOf(routes);
    this.notFound = "not found; try " + String.join(", ", new java.util.TreeSet<>(routes.keySet()));
    this.slow = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, name + "-slow");
      t.setDaemon(true);
      return t;
    });
    this.thread = new Thread(this::run, name);
    thread.setDaemon(true);
  }

  /**
   * Binds {@code address} and starts serving {@code routes} (path to route).
   *
   * @param name the thread name
   * @throws UncheckedIOException if the address cannot be bound
   */
  public static HttpEndpoint start(InetSocketAddress address, Map<String, Route> routes, String name) {
    Objects.requireNonNull(address, "address");
    Selector selector = null;
    ServerSocketChannel server = null;
    try {
      selector = Selector.open();
      server = ServerSocketChannel.open();
      server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
      server.bind(address, 64);
      server.configureBlocking(false);
      server.register(selector, SelectionKey.OP_ACCEPT);
    } catch (IOException e) {
      closeQuietly(server);
      closeQuietly(selector);
      throw new UncheckedIOException("cannot listen on " + address, e);
    }
    HttpEndpoint endpoint = new HttpEndpoint(server, selector, new LinkedHashMap<>(routes), name);
    endpoint.thread.start();
    return endpoint;
  }

  /** The bound address. */
  public InetSocketAddress address() {
    try {
      return (InetSocketAddress) server.getLocalAddress();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static final class Connection {
    final long deadline;
    final ByteBuffer in = ByteBuffer.allocate(MAX_HEAD_BYTES);
    ByteBuffer out;
    boolean answered;

    Connection(long deadline) {
      this.deadline = deadline;
    }
  }

  private void run() {
    long timeoutNanos = REQUEST_TIMEOUT.toNanos();
    while (!closed) {
      try {
        selector.select(250);
        Runnable task;
        while ((task = pending.poll()) != null) {
          task.run();
        }
        Iterator<SelectionKey> it = selector.selectedKeys().iterator();
        while (it.hasNext()) {
          SelectionKey key = it.next();
          it.remove();
          if (!key.isValid()) {
            continue;
          }
          try {
            if (key.isAcceptable()) {
              accept(timeoutNanos);
            } else if (key.isReadable()) {
              read(key);
            } else if (key.isWritable()) {
              write(key);
            }
          } catch (IOException | RuntimeException e) {
            close(key);
          }
        }
        expire();
      } catch (IOException | RuntimeException e) {
        if (!closed) {
          LOG.warn("probe/metrics endpoint: {}", e.toString());
        }
      }
    }
  }

  private void accept(long timeoutNanos) throws IOException {
    SocketChannel channel;
    // A bounded batch per turn: a connection accepted now is read in the next turns before a burst of
    // new ones could push it out as the oldest.
    for (int i = 0; i < MAX_CONNECTIONS / 4 && (channel = server.accept()) != null; i++) {
      while (connections.size() >= MAX_CONNECTIONS) {
        close(connections.peekFirst());
      }
      channel.configureBlocking(false);
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      SelectionKey key = channel.register(selector, SelectionKey.OP_READ, new Connection(System.nanoTime() + timeoutNanos));
      connections.addLast(key);
    }
  }

  private void expire() {
    long now = System.nanoTime();
    while (!connections.isEmpty()) {
      SelectionKey oldest = connections.peekFirst();
      Connection c = (Connection) oldest.attachment();
      if (oldest.isValid() && now - c.deadline < 0) {
        return;
      }
      close(oldest);
    }
  }

  private void read(SelectionKey key) throws IOException {
    Connection c = (Connection) key.attachment();
    SocketChannel channel = (SocketChannel) key.channel();
    if (c.answered) {
      // Anything after the head (a body, a pipelined request) is ignored: the answer closes.
      ByteBuffer discard = ByteBuffer.allocate(512);
      if (channel.read(discard) < 0) {
        close(key);
      }
      return;
    }
    int n = channel.read(c.in);
    int headEnd = headEnd(c.in);
    if (headEnd < 0) {
      if (n < 0) {
        close(key);
      } else if (!c.in.hasRemaining()) {
        respond(key, Response.text(431, "request head too large"), true);
      }
      return;
    }
    String head = new String(c.in.array(), 0, headEnd, StandardCharsets.ISO_8859_1);
    int lineEnd = head.indexOf('\n');
    String[] parts = (lineEnd < 0 ? head : head.substring(0, lineEnd)).trim().split(" ");
    if (parts.length != 3 || !parts[2].startsWith("HTTP/1.")) {
      respond(key, Response.text(400, "bad request"), true);
      return;
    }
    String method = parts[0];
    String target = parts[1];
    int query = target.indexOf('?');
    String path = query < 0 ? target : target.substring(0, query);
    Route route = routes.get(path);
    boolean isHead = method.equals("HEAD");
    if (route == null) {
      respond(key, Response.text(404, notFound), !isHead);
    } else if (!method.equals("GET") && !isHead) {
      respond(key, Response.text(405, "method not allowed"), true);
    } else if (!route.slow()) {
      respond(key, route.handler().get(), !isHead);
    } else {
      c.answered = true;
      try {
        slow.execute(() -> {
          Response r;
          try {
            r = route.handler().get();
          } catch (RuntimeException e) {
            r = Response.text(500, "internal error");
          }
          Response response = r;
          pending.add(() -> {
            if (key.isValid()) {
              respond(key, response, !isHead);
            }
          });
          selector.wakeup();
        });
      } catch (RejectedExecutionException e) {
        close(key);
      }
    }
  }

  /** The end of the request head (after the blank line), or -1. */
  private static int headEnd(ByteBuffer in) {
    byte[] b = in.array();
    int len = in.position();
    for (int i = 0; i + 1 < len; i++) {
      if (b[i] == '\n' && (b[i + 1] == '\n' || (b[i + 1] == '\r' && i + 2 < len && b[i + 2] == '\n'))) {
        return i + 1;
      }
    }
    return -1;
  }

  private void respond(SelectionKey key, Response response, boolean withBody) {
    Connection c = (Connection) key.attachment();
    c.answered = true;
    byte[] body = response.body().getBytes(StandardCharsets.UTF_8);
    StringBuilder head = new StringBuilder("HTTP/1.1 ").append(response.status()).append(' ')
        .append(reason(response.status())).append("\r\nContent-Type: ").append(response.contentType())
        .append("\r\nContent-Length: ").append(body.length)
        .append("\r\nCache-Control: no-store\r\nConnection: close\r\n");
    if (response.status() == 405) {
      head.append("Allow: GET, HEAD\r\n");
    }
    head.append("\r\n");
    byte[] h = head.toString().getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer out = ByteBuffer.allocate(h.length + (withBody ? body.length : 0));
    out.put(h);
    if (withBody) {
      out.put(body);
    }
    out.flip();
    c.out = out;
    key.interestOps(SelectionKey.OP_WRITE);
    try {
      write(key);
    } catch (IOException e) {
      close(key);
    }
  }

  private void write(SelectionKey key) throws IOException {
    Connection c = (Connection) key.attachment();
    if (c.out == null) {
      return;
    }
    ((SocketChannel) key.channel()).write(c.out);
    if (!c.out.hasRemaining()) {
      close(key);
    }
  }

  private static String reason(int status) {
    return switch (status) {
      case 200 -> "OK";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 405 -> "Method Not Allowed";
      case 431 -> "Request Header Fields Too Large";
      case 503 -> "Service Unavailable";
      default -> "Status";
    };
  }

  private void close(SelectionKey key) {
    if (key == null) {
      return;
    }
    connections.remove(key);
    key.cancel();
    closeQuietly(key.channel());
  }

  private static void closeQuietly(AutoCloseable c) {
    if (c != null) {
      try {
        c.close();
      } catch (Exception ignored) {
        // closing
      }
    }
  }

  /** Stops serving and closes every connection; a slow answer in progress gets up to a second. */
  @Override
  public void close() {
    closed = true;
    selector.wakeup();
    try {
      thread.join(TimeUnit.SECONDS.toMillis(2));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    slow.shutdownNow();
    for (SelectionKey key : selector.keys()) {
      closeQuietly(key.channel());
    }
    closeQuietly(selector);
    closeQuietly(server);
  }
}
