package dev.kubemtls.core.testing;

import dev.kubemtls.core.TlsIdentity;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.AlgorithmConstraints;
import java.security.AlgorithmParameters;
import java.security.CryptoPrimitive;
import java.security.Key;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * A TLS client that is not kube-mtls, for probing servers from the outside the way {@code openssl
 * s_client} does: it presents whatever certificate it is given (even one whose issuer the server
 * does not list), can be limited to a protocol and to some signature schemes or groups, sends one
 * payload and reports the first line it reads back or the TLS alert the server sent.
 */
public final class OutsidePeer {

  private static final Pattern ALERT = Pattern.compile("Received fatal alert: ([a-z_]+)");

  private final TlsIdentity identity;
  private final List<X509Certificate> trusted;
  private String[] protocols = {"TLSv1.3", "TLSv1.2"};
  private Set<String> onlySchemes;
  private Set<String> onlyGroups;
  private String[] applicationProtocols;

  /** @param identity what to present, or null for none; @param trusted CAs for the server, none to skip the check */
  public OutsidePeer(TlsIdentity identity, List<X509Certificate> trusted) {
    this.identity = identity;
    this.trusted = List.copyOf(trusted);
  }

  public OutsidePeer protocols(String... protocols) {
    this.protocols = protocols.clone();
    return this;
  }

  /** Offers only these signature schemes (TLS names), like {@code openssl s_client -sigalgs}. */
  public OutsidePeer onlySignatureSchemes(String... schemes) {
    this.onlySchemes = Set.of(schemes);
    return this;
  }

  /** Offers only these groups (TLS names), like {@code openssl s_client -groups}. */
  public OutsidePeer onlyGroups(String... groups) {
    this.onlyGroups = Set.of(groups);
    return this;
  }

  /** Offers these ALPN protocols, like {@code openssl s_client -alpn}; none by default. */
  public OutsidePeer applicationProtocols(String... protocols) {
    this.applicationProtocols = protocols.clone();
    return this;
  }

  /**
   * What a peer says after its handshake, for servers that do not answer a line (HTTP/2): it writes
   * to {@code out}, reads from {@code in} and returns the answer that stands for the first line, or
   * null when there was none.
   */
  @FunctionalInterface
  public interface Conversation {
    String talk(java.io.InputStream in, OutputStream out) throws IOException;
  }

  /**
   * What came back: the first line read, or the alert (or other failure) that ended the connection;
   * and the certificate the server presented, when the handshake got that far.
   */
  public record Result(String firstLine, String alert, String failure, X509Certificate server) {
    public boolean succeeded() {
      return firstLine != null;
    }

    /**
     * Whether the connection ended in a reset or broken pipe with no alert read: the server closed
     * while this peer still wrote (its close then resets the connection, and the alert it sent
     * before is lost), so the attempt says nothing about the alert and is worth repeating.
     */
    public boolean resetInsteadOfAlert() {
      return alert == null && failure != null && RESET.matcher(failure).find();
    }
  }

  /**
   * How often a test repeats a refusal that met a reset instead of the alert ({@link
   * Result#resetInsteadOfAlert}); each attempt is a real refusal the server reports. On a loaded
   * machine one attempt in a few can meet the reset, so a handful is not enough.
   */
  public static final int REFUSAL_ATTEMPTS = 20;

  private static final Pattern RESET = Pattern.compile("Broken pipe|Connection reset");

  /** Connects to 127.0.0.1:{@code port}, completes the handshake, writes {@code payload} and reads one line. */
  public Result exchange(int port, String payload) throws Exception {
    return run(port, (in, out) -> {
      out.write(payload.getBytes(StandardCharsets.UTF_8));
      out.flush();
      return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)).readLine();
    });
  }

  /** Connects to 127.0.0.1:{@code port}, completes the handshake and holds {@code conversation}. */
  public Result exchange(int port, Conversation conversation) throws Exception {
    return run(port, conversation);
  }

  /**
   * Connects, completes its side of the handshake and reads without writing, for a server that is
   * expected to refuse this peer: with TLS 1.3 its alert arrives after the client's side is done,
   * and a client that wrote meanwhile could meet a reset instead of the alert. A server that
   * accepts the peer sends nothing, and the read ends at the socket timeout with no alert.
   */
  public Result refusal(int port) throws Exception {
    return run(port, null);
  }

  private Result run(int port, Conversation conversation) throws Exception {
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(identity == null ? null : new X509ExtendedKeyManager[] {new AnyIssuerKeyManager(identity)},
        new TrustManager[] {new PlainPkix(trusted)}, null);
    try (Socket raw = new Socket()) {
      try {
        raw.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
      } catch (IOException e) {
        // Nothing listens (yet): a refusal before any handshake.
        return new Result(null, null, "connect: " + e, null);
      }
      raw.setSoTimeout(10_000);
      SSLSocket socket = (SSLSocket) context.getSocketFactory().createSocket(raw, "127.0.0.1", port, true);
      SSLParameters p = socket.getSSLParameters();
      p.setProtocols(protocols);
      if (onlySchemes != null || onlyGroups != null) {
        p.setAlgorithmConstraints(new Only(onlySchemes, onlyGroups));
      }
      if (applicationProtocols != null) {
        p.setApplicationProtocols(applicationProtocols);
      }
      socket.setSSLParameters(p);
      X509Certificate[] seen = new X509Certificate[1];
      try {
        socket.startHandshake();
        if (socket.getSession().getPeerCertificates()[0] instanceof X509Certificate x) {
          seen[0] = x;
        }
        String line = conversation == null
            ? new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8)).readLine()
            : conversation.talk(socket.getInputStream(), socket.getOutputStream());
        return line == null ? new Result(null, null, "closed without an answer", seen[0])
            : new Result(line, null, null, seen[0]);
      } catch (IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
          Matcher m = ALERT.matcher(String.valueOf(t.getMessage()));
          if (m.find()) {
            return new Result(null, m.group(1), e.toString(), seen[0]);
          }
        }
        return new Result(null, null, e.toString(), seen[0]);
      }
    }
  }

  /** Presents its one identity whatever issuers the server asks for. */
  private static final class AnyIssuerKeyManager extends X509ExtendedKeyManager {
    private final TlsIdentity id;

    AnyIssuerKeyManager(TlsIdentity id) {
      this.id = id;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
      return new String[] {"id"};
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
      return "id";
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
      return "id";
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
      return null;
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
      return null;
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
      return id.chain().toArray(X509Certificate[]::new);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
      return id.privateKey();
    }
  }

  /**
   * Checks the server's chain with PKIX and nothing else (no TLS algorithm constraints on the
   * certificate, no name check), so that a restricted probe still reaches the server's choices.
   */
  private static final class PlainPkix extends X509ExtendedTrustManager {
    private final X509TrustManager pkix;

    PlainPkix(List<X509Certificate> trusted) throws Exception {
      if (trusted.isEmpty()) {
        pkix = null;
        return;
      }
      KeyStore store = KeyStore.getInstance("PKCS12");
      store.load(null, null);
      for (int i = 0; i < trusted.size(); i++) {
        store.setCertificateEntry("ca" + i, trusted.get(i));
      }
      TrustManagerFactory f = TrustManagerFactory.getInstance("PKIX");
      f.init(store);
      pkix = (X509TrustManager) f.getTrustManagers()[0];
    }

    private void check(X509Certificate[] chain, String authType) throws CertificateException {
      if (pkix != null) {
        pkix.checkServerTrusted(chain, authType);
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      check(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
      throw new CertificateException("a client only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) throws CertificateException {
      throw new CertificateException("a client only");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      throw new CertificateException("a client only");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  /** Refuses every signature scheme or group name outside the given sets. */
  private static final class Only implements AlgorithmConstraints {
    private static final Pattern SCHEME = Pattern.compile(
        "(ecdsa|rsa|dsa)_[a-z0-9_]*(sha1|sha224|sha256|sha384|sha512|md5)|ed25519|ed448");
    private static final Pattern GROUP = Pattern.compile("x25519|x448|ffdhe[0-9]+|sec[pt][0-9]+[rk][0-9]");
    private final Set<String> schemes;
    private final Set<String> groups;

    Only(Set<String> schemes, Set<String> groups) {
      this.schemes = schemes;
      this.groups = groups;
    }

    @Override
    public boolean permits(Set<CryptoPrimitive> primitives, String algorithm, AlgorithmParameters parameters) {
      String name = algorithm == null ? "" : algorithm.toLowerCase(Locale.ROOT);
      if (schemes != null && SCHEME.matcher(name).matches()) {
        return schemes.contains(name);
      }
      if (groups != null && GROUP.matcher(name).matches()) {
        return groups.contains(name);
      }
      return true;
    }

    @Override
    public boolean permits(Set<CryptoPrimitive> primitives, Key key) {
      return true;
    }

    @Override
    public boolean permits(Set<CryptoPrimitive> primitives, String algorithm, Key key, AlgorithmParameters parameters) {
      return permits(primitives, algorithm, parameters);
    }
  }
}
