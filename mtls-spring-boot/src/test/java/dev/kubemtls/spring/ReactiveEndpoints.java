package dev.kubemtls.spring;

import java.security.Principal;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Mono;

/** A WebFlux application: {@code /whoami} answers with the principal's name and the client certificate's serial. */
@Configuration(proxyBeanMethods = false)
@EnableAutoConfiguration
@Import(ReactiveEndpoints.WhoAmI.class)
class ReactiveEndpoints {

  @RestController
  static class WhoAmI {
    @GetMapping("/whoami")
    Mono<String> whoami(ServerWebExchange exchange) {
      exchange.getResponse().getHeaders().set("Connection", "close");
      String serial = exchange.getRequest().getSslInfo().getPeerCertificates()[0].getSerialNumber().toString(16);
      return exchange.getPrincipal().map(Principal::getName).map(name -> name + " " + serial);
    }
  }
}
