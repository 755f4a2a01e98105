// Reference WebSocket echo server (Boost.Beast, one thread, asynchronous).
//
//   echo_server --port 0 [--tls --cert FILE --key FILE] [--lifetime SECONDS]
//
// Prints "PORT <n>" once it listens on 127.0.0.1, then echoes every message with
// its type until it is killed. --lifetime (default 3600 s) bounds it even if the
// harness that started it dies.
#include "common.hpp"

#include <memory>
#include <unistd.h>

template <class WS>
class Session : public std::enable_shared_from_this<Session<WS>> {
public:
    explicit Session(WS&& ws) : ws_(std::move(ws)) {}

    void start() {
        // A benchmark peer must not limit message size below what we send (100 KB).
        ws_.read_message_max(64 * 1024 * 1024);
        ws_.auto_fragment(false);
        ws_.async_accept([self = this->shared_from_this()](beast::error_code ec) {
            if (!ec) self->do_read();
        });
    }

    WS& ws() { return ws_; }

private:
    void do_read() {
        ws_.async_read(buf_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return;  // closed or failed: the session ends with its last reference
            self->ws_.binary(self->ws_.got_binary());
            self->ws_.async_write(
                self->buf_.data(), [self](beast::error_code ec2, std::size_t) {
                    if (ec2) return;
                    self->buf_.consume(self->buf_.size());
                    self->do_read();
                });
        });
    }

    WS ws_;
    beast::flat_buffer buf_;
};

using PlainWS = websocket::stream<tcp::socket>;
using TlsWS = websocket::stream<ssl::stream<tcp::socket>>;

class Server {
public:
    Server(net::io_context& ioc, ssl::context* tls) : ioc_(ioc), acceptor_(ioc), tls_(tls) {}

    unsigned short listen(unsigned short port) {
        tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
        acceptor_.open(ep.protocol());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen(4096);
        return acceptor_.local_endpoint().port();
    }

    void accept() {
        acceptor_.async_accept(ioc_, [this](beast::error_code ec, tcp::socket sock) {
            if (!ec) {
                sock.set_option(tcp::no_delay(true));
                if (tls_ == nullptr) {
                    std::make_shared<Session<PlainWS>>(PlainWS(std::move(sock)))->start();
                } else {
                    auto s = std::make_shared<Session<TlsWS>>(TlsWS(std::move(sock), *tls_));
                    s->ws().next_layer().async_handshake(
                        ssl::stream_base::server, [s](beast::error_code hec) {
                            if (!hec) s->start();
                        });
                }
            }
            accept();
        });
    }

private:
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    ssl::context* tls_;
};

int main(int argc, char** argv) {
    try {
        auto args = parse_args(argc, argv);
        if (args.count("version")) {
            print_line(versions_json());
            return 0;
        }
        alarm(static_cast<unsigned>(opt_long(args, "lifetime", 3600)));
        net::io_context ioc(1);
        std::unique_ptr<ssl::context> tls;
        if (args.count("tls")) {
            tls = std::make_unique<ssl::context>(ssl::context::tls_server);
            tls->use_certificate_chain_file(opt(args, "cert", "cert.pem"));
            tls->use_private_key_file(opt(args, "key", "key.pem"), ssl::context::pem);
        }
        Server server(ioc, tls.get());
        auto port = server.listen(static_cast<unsigned short>(opt_long(args, "port", 0)));
        server.accept();
        print_line("PORT " + std::to_string(port));
        ioc.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
    return 0;
}
