package dev.kubemtls.kafka;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The conformance suite on Kafka's path: servers and clients take their {@code SSLEngine}s from
 * {@link MtlsSslEngineFactory} configured as Kafka configures it (by class name, with the
 * configuration map of {@link KafkaMtls#brokerConfig} or {@link KafkaMtls#clientConfig} and Kafka's
 * default {@code ssl.endpoint.identification.algorithm}), and drive them as Kafka's transport layer
 * does ({@link EngineSocket}), with a line protocol in place of Kafka's: a broker per case would be
 * far slower and would test the same engines. The brokers of {@code KafkaMtlsIT} cover the rest.
 */
class KafkaConformanceTest extends TlsConformanceSuite {

  private static final AtomicInteger NAMES = new AtomicInteger();
  private static final String PROBE = "PING";
  private static final String OK = "OK";
  /** Kafka's default {@code ssl.endpoint.identification.algorithm}. */
  private static final String ENDPOINT_IDENTIFICATION = "https";

  @Override
  protected TlsIntegration integration() {
    return new TlsIntegration() {
      @Override
      public String name() {
        return "kafka";
      }

      @Override
      public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        KafkaMtls.Registration registration = register(source, policy, peers, listener);
        MtlsSslEngineFactory factory = factory(registration.brokerConfig());
        ServerSocket listening = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        ExecutorService connections = Executors.newCachedThreadPool(r -> {
          Thread t = new Thread(r, "kafka-conformance-server");
          t.setDaemon(true);
          return t;
        });
        connections.execute(() -> {
          while (!listening.isClosed()) {
            try {
              Socket accepted = listening.accept();
              connections.execute(() -> serve(factory, accepted));
            } catch (IOException closed) {
              return;
            }
          }
        });
        return new Server() {
          @Override
          public int port() {
            return listening.getLocalPort();
          }

          @Override
          public void close() throws IOException {
            listening.close();
            connections.shutdownNow();
            factory.close();
            registration.close();
          }
        };
      }

      @Override
      public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        KafkaMtls.Registration registration = register(source, policy, peers, listener);
        MtlsSslEngineFactory factory = factory(registration.clientConfig());
        return new Client() {
          @Override
          public String call(int port) throws Exception {
            Socket raw = new Socket();
            raw.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            try (EngineSocket connection = new EngineSocket(raw,
                factory.createClientSslEngine("127.0.0.1", port, ENDPOINT_IDENTIFICATION))) {
              connection.handshake();
              connection.writeLine(PROBE);
              String line = connection.readLine();
              if (line == null) {
                throw new IOException("the server closed the connection without an answer");
              }
              return line;
            }
          }

          @Override
          public void close() {
            factory.close();
            registration.close();
          }
        };
      }

      @Override
      public String probe() {
        return PROBE + "\n";
      }

      @Override
      public String okLine() {
        return OK;
      }
    };
  }

  private static KafkaMtls.Registration register(MaterialSource source, TlsPolicy policy, PeerPolicy peers,
      TlsListener listener) {
    return KafkaMtls.source("conformance-" + NAMES.incrementAndGet(), source).tlsPolicy(policy).peerPolicy(peers)
        .listener(listener).register();
  }

  /**
   * A factory made and configured the way Kafka makes one: by class name, then the whole
   * configuration map ({@code kubeMtlsConfig} and Kafka's defaults).
   */
  private static MtlsSslEngineFactory factory(Map<String, Object> kubeMtlsConfig)
      throws ReflectiveOperationException {
    Map<String, Object> config = new HashMap<>(kubeMtlsConfig);
    config.put("ssl.endpoint.identification.algorithm", ENDPOINT_IDENTIFICATION);
    MtlsSslEngineFactory factory = (MtlsSslEngineFactory) Class.forName(
        (String) config.get("ssl.engine.factory.class")).getDeclaredConstructor().newInstance();
    factory.configure(config);
    return factory;
  }

  /** One connection of the line server: a handshake, then OK for each PING until the peer closes. */
  private static void serve(MtlsSslEngineFactory factory, Socket accepted) {
    try (EngineSocket connection = new EngineSocket(accepted,
        factory.createServerSslEngine(accepted.getInetAddress().getHostAddress(), accepted.getPort()))) {
      connection.handshake();
      for (String line = connection.readLine(); line != null; line = connection.readLine()) {
        connection.writeLine(PROBE.equals(line) ? OK : "ERR unknown request " + line);
      }
    } catch (IOException | RuntimeException e) {
      // A refused handshake or a peer that went away: the factory's listener has the outcome.
    }
  }
}
