/**
 * kube-mtls for Jetty 12 and Jakarta Servlet: a connector and an HTTP client that take each new
 * connection's material from a {@code MaterialSource}, and a filter for the caller's identity. The
 * Jetty modules are optional: the filter needs the Servlet API only. See {@code dev.kubemtls.servlet}.
 */
module dev.kubemtls.servlet {
  requires transitive dev.kubemtls.core;
  requires transitive jakarta.servlet;
  requires static transitive org.eclipse.jetty.server;
  requires static transitive org.eclipse.jetty.client;
  requires static org.eclipse.jetty.http;
  requires static org.eclipse.jetty.io;
  requires static org.eclipse.jetty.util;
  requires org.slf4j;

  exports dev.kubemtls.servlet;
}
