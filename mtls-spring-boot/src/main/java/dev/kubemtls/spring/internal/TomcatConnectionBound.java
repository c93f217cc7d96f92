package dev.kubemtls.spring.internal;

import dev.kubemtls.core.internal.Issuers;
import dev.kubemtls.core.MaterialSource;
import dev.kubemtls.core.MtlsMaterial;
import jakarta.servlet.ServletException;
import java.io.IOException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.valves.ValveBase;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Bounds Tomcat's kept-alive TLS connections by their material, one request at a time: a request
 * on a connection that is past its maximum age (counted from the first request seen on its TLS
 * session), past the client certificate's {@code notAfter}, or whose client chain no longer ends in
 * a CA of the current bundle is served and answered with {@code Connection: close}, so Tomcat closes
 * the connection after the response and the client reconnects with current material. Tomcat offers
 * no hook to close an idle connection at a given time: an idle connection past its bound lives until
 * Tomcat's keep-alive timeout ({@code server.tomcat.keep-alive-timeout}) ends it.
 */
public final class TomcatConnectionBound extends ValveBase {

  private static final Logger LOG = LoggerFactory.getLogger(TomcatConnectionBound.class);
  private static final String CERTIFICATES = "jakarta.servlet.request.X509Certificate";
  private static final String SESSION_ID = "jakarta.servlet.request.ssl_session_id";
  /** Sessions remembered before old ones are dropped. */
  private static final int MAX_SESSIONS = 10_000;

  private final MaterialSource source;
  private final Duration maxAge;
  private final InstantSource clock;
  private final Map<String, Instant> firstSeen = new ConcurrentHashMap<>();

  public TomcatConnectionBound(MaterialSource source, Duration maxAge, InstantSource clock) {
    super(true);
    this.source = source;
    this.maxAge = maxAge;
    this.clock = clock;
  }

  @Override
  public void invoke(Request request, Response response) throws IOException, ServletException {
    if (request.isSecure()) {
      String why = ended(request);
      if (why != null) {
        LOG.debug("closing connection {} after this response: {}", request.getRemoteAddr(), why);
        response.setHeader("Connection", "close");
      }
    }
    getNext().invoke(request, response);
  }

  /** Why the connection of {@code request} has ended, or null. */
  private String ended(Request request) {
    Instant now = clock.instant();
    if (request.getAttribute(SESSION_ID) instanceof String session) {
      if (firstSeen.size() > MAX_SESSIONS) {
        firstSeen.values().removeIf(t -> t.plus(maxAge).isBefore(now));
      }
      Instant first = firstSeen.computeIfAbsent(session, s -> now);
      if (!now.isBefore(first.plus(maxAge))) {
        firstSeen.remove(session);
        return "maximum connection age " + maxAge;
      }
    }
    if (request.getAttribute(CERTIFICATES) instanceof X509Certificate[] chain && chain.length > 0) {
      if (!now.isBefore(chain[0].getNotAfter().toInstant())) {
        return "the client's certificate expired (notAfter " + chain[0].getNotAfter().toInstant() + ")";
      }
      Optional<MtlsMaterial> material = source.currentIfReady();
      if (material.isPresent() && !issuedByAny(chain[chain.length - 1], material.get())) {
        return "the CA that issued the client's certificate left the trust bundle";
      }
    }
    return null;
  }

  /** Whether {@code top} is one of, or signed by one of, the CAs of {@code material}'s bundle. */
  static boolean issuedByAny(X509Certificate top, MtlsMaterial material) {
    return Issuers.issuedByAny(top, material.trust().certificates());
  }
}
