package dev.kubemtls.http;

import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.peer.PeerPolicy;
import dev.kubemtls.core.testing.conformance.JdkHttpsServer;
import dev.kubemtls.core.testing.conformance.TlsConformanceSuite;
import dev.kubemtls.core.testing.conformance.TlsIntegration;
import dev.kubemtls.core.tls.MtlsJdkTls;
import dev.kubemtls.core.tls.TlsListener;
import dev.kubemtls.core.tls.TlsPolicy;

/**
 * The conformance suite for one of this module's HTTP clients: the client half is the module's
 * client over an {@link MtlsJdkTls} client, as users build it; the server half is core's JDK engine
 * under the JDK's HTTPS server ({@link JdkHttpsServer}), which the suite thereby checks once more.
 */
abstract class HttpClientConformance extends TlsConformanceSuite {

  /** For test names. */
  abstract String clientName();

  /** The module's client over {@code tls}; closing it closes {@code tls} too. */
  abstract TlsIntegration.Client client(MtlsJdkTls tls) throws Exception;

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
        return HttpClientConformance.this.client(
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
  static String statusLine(int code) {
    return "HTTP/1.1 " + code + (code == 200 ? " OK" : "");
  }
}
