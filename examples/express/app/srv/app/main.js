// Serves one page on PORT (default 8080); with --once, fetches it from
// itself, prints it and exits (what the tests run).
const express = require("express");
const http = require("http");

const app = express();
app.get("/", (req, res) => res.send(`hello from express ${require("express/package.json").version}\n`));

const server = app.listen(Number(process.env.PORT || 8080), "127.0.0.1", () => {
  if (!process.argv.includes("--once")) return;
  http.get({ host: "127.0.0.1", port: server.address().port, path: "/" }, (res) => {
    let body = "";
    res.on("data", (chunk) => (body += chunk));
    res.on("end", () => {
      process.stdout.write(body);
      server.close();
    });
  });
});
