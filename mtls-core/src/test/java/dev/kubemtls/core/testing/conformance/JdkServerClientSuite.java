package dev.kubemtls.core.testing.conformance;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;

/**
 * The conformance suite for an integration that is a client only (an HTTP client, a database
 * driver's socket factory) over an {@link MtlsJdkTls} client: the client half is the integration's
 * client as users build it; the server half is core's JDK engine under the JDK's HTTPS server
 * ({@link JdkHttpsServer}), which the suite thereby checks once more. A client speaks HTTP/1.1 to it.
 */
public abstract class JdkServerClientSuite extends TlsConformanceSuite {

  /** For test names. */
  protected abstract String clientName();

  /** The integration's client over {@code tls}; closing it closes {@code tls} too. */
  protected abstract TlsIntegration.Client client(MtlsJdkTls tls) throws Exception;

  @Override
  protected TlsIntegration integration() {
    return new TlsIntegration() {
      @Override
      public String name() {
        return clientName() + " client, jdk server";
      }

      @Override
      public Server server(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        return JdkHttpsServer.start(source, policy, peers, listener);
      }

      @Override
      public Client client(MaterialSource source, TlsPolicy policy, PeerPolicy peers, TlsListener listener)
          throws Exception {
        return JdkServerClientSuite.this.client(
            MtlsJdkTls.forClient(source).tlsPolicy(policy).peerPolicy(peers).listener(listener).build());
      }

      @Override
      public String probe() {
        return JdkHttpsServer.PROBE;
      }

      @Override
      public String okLine() {
        return JdkHttpsServer.OK_LINE;
      }
    };
  }

  /** The status line the suite compares with {@link JdkHttpsServer#OK_LINE}. */
  protected static String statusLine(int code) {
    return "HTTP/1.1 " + code + (code == 200 ? " OK" : "");
  }
}
