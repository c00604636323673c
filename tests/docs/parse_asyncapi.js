// Parse an AsyncAPI document with the official parser (@asyncapi/parser) and print every
// diagnostic as a JSON line. Exit 1 when there is a diagnostic of error severity (0) or the
// parser returns no document, 0 otherwise.
// Usage: node parse_asyncapi.js PARSER_DIR DOCUMENT
const path = require("path");
const fs = require("fs");

async function main() {
  const [parserDir, documentPath] = process.argv.slice(2);
  const { Parser } = require(path.join(parserDir, "node_modules", "@asyncapi", "parser"));
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(fs.readFileSync(documentPath, "utf8"));
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === 0) errors += 1;
    console.log(JSON.stringify({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
  }
  if (!document) console.log(JSON.stringify({ severity: 0, code: "no-document", message: "no document" }));
  process.exit(errors > 0 || !document ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});
