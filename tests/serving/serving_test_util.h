// Helpers of the serving tests: a blocking raw-HTTP call with a deadline, a fake server that
// answers every connection with canned bytes, and a bounded poll.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio.hpp>

namespace dsbench::serving::testing {

struct RawResponse {
  int status = 0;
  std::string head, body;
};

// Sends `request` (complete HTTP bytes) to 127.0.0.1:port and reads until the server closes or
// `seconds` pass.
inline RawResponse raw_http(uint16_t port, const std::string& request, double seconds = 10) {
  boost::asio::ip::tcp::iostream s;
  s.expires_after(std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  s.connect("127.0.0.1", std::to_string(port));
  s << request << std::flush;
  std::string all((std::istreambuf_iterator<char>(s)), std::istreambuf_iterator<char>());
  RawResponse r;
  size_t split = all.find("\r\n\r\n");
  r.head = all.substr(0, split);
  if (split != std::string::npos) r.body = all.substr(split + 4);
  if (all.rfind("HTTP/1.1 ", 0) == 0) r.status = std::atoi(all.c_str() + 9);
  return r;
}

inline std::string post(const std::string& path, const std::string& body) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

inline std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
}

// Polls `cond` every 10 ms for at most `seconds`.
inline bool eventually(const std::function<bool()>& cond, double seconds = 10) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// Accepts connections on a free loopback port, reads each request's head, writes `reply` and
// closes. Runs on its own thread until destroyed.
class FakeServer {
 public:
  explicit FakeServer(std::string reply) : reply_(std::move(reply)), acceptor_(ioc_) {
    using boost::asio::ip::tcp;
    tcp::endpoint ep(boost::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(ep.protocol());
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~FakeServer() {
    boost::asio::post(ioc_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      ioc_.stop();
    });
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  struct Conn {
    explicit Conn(boost::asio::io_context& ioc) : sock(ioc) {}
    boost::asio::ip::tcp::socket sock;
    boost::asio::streambuf buf;
  };
  void accept() {
    auto c = std::make_shared<Conn>(ioc_);
    acceptor_.async_accept(c->sock, [this, c](boost::system::error_code ec) {
      if (ec) return;
      boost::asio::async_read_until(c->sock, c->buf, "\r\n\r\n", [this, c](boost::system::error_code ec2, size_t head) {
        if (ec2) return;
        // Read the whole body first: closing with unread bytes would reset the connection.
        std::string text(boost::asio::buffers_begin(c->buf.data()), boost::asio::buffers_end(c->buf.data()));
        size_t len = 0, at = text.find("Content-Length: ");
        if (at == std::string::npos) at = text.find("content-length: ");
        if (at != std::string::npos && at < head) len = std::strtoul(text.c_str() + at + 16, nullptr, 10);
        size_t have = c->buf.size() - head;
        size_t more = len > have ? len - have : 0;
        boost::asio::async_read(c->sock, c->buf, boost::asio::transfer_exactly(more),
                                [this, c](boost::system::error_code ec3, size_t) {
          if (ec3) return;
          boost::asio::async_write(c->sock, boost::asio::buffer(reply_), [c](boost::system::error_code, size_t) {
            boost::system::error_code ig;
            c->sock.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ig);
          });
        });
      });
      accept();
    });
  }
  std::string reply_;
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

}  // namespace dsbench::serving::testing
