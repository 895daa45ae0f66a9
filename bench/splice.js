// Replace one marked section of a Markdown file with new text, keeping every other section.
// usage: node bench/splice.js FILE SECTION < new-section-text
// The section is delimited by <!-- SECTION:begin --> and <!-- SECTION:end -->; when the file or
// the markers do not exist yet, the section is appended.
'use strict';
const fs = require('fs');
const [file, name] = process.argv.slice(2);
if (!file || !name) {
  console.error('usage: node bench/splice.js FILE SECTION < text');
  process.exit(2);
}
const body = fs.readFileSync(0, 'utf8').replace(/\s+$/, '') + '\n';
const begin = `<!-- ${name}:begin -->`;
const end = `<!-- ${name}:end -->`;
const block = `${begin}\n${body}${end}\n`;
let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
const i = text.indexOf(begin);
const j = text.indexOf(end);
if (i >= 0 && j > i) {
  text = text.slice(0, i) + block + text.slice(j + end.length).replace(/^\n/, '');
} else {
  text = (text ? text.replace(/\s*$/, '\n\n') : '') + block;
}
fs.writeFileSync(file, text);
