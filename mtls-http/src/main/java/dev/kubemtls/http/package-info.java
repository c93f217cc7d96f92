/**
 * HTTP clients over kube-mtls: {@link dev.kubemtls.http.MtlsJdkHttpClient} (java.net.http),
 * {@link dev.kubemtls.http.MtlsOkHttp} (OkHttp 5) and {@link dev.kubemtls.http.MtlsApacheHttp} (Apache
 * HttpClient 5), each following a {@link dev.kubemtls.core.tls.MtlsJdkTls} client and retiring pooled
 * connections made under superseded material, as each class describes. OkHttp and HttpClient are
 * optional dependencies: add the one you use.
 */
package dev.kubemtls.http;
