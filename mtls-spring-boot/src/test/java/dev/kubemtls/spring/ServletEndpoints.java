package dev.kubemtls.spring;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.security.cert.X509Certificate;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** A servlet application: {@code /whoami} answers with the principal's name and the client certificate's serial. */
@Configuration(proxyBeanMethods = false)
@EnableAutoConfiguration
@Import(ServletEndpoints.WhoAmI.class)
class ServletEndpoints {

  @RestController
  static class WhoAmI {
    @GetMapping("/whoami")
    String whoami(HttpServletRequest request, HttpServletResponse response) {
      // Every request on a new connection, so each one shows the certificates in use now.
      response.setHeader("Connection", "close");
      X509Certificate[] chain = (X509Certificate[]) request.getAttribute("jakarta.servlet.request.X509Certificate");
      return request.getUserPrincipal().getName() + " " + chain[0].getSerialNumber().toString(16);
    }
  }
}
