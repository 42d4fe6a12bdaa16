// A small browser script with deliberate defects (scanner sample).
function run(code) {
  return eval(code);
}

function later(code) {
  setTimeout(code, 10);
  return new Function(code);
}

function reviewed(code) {
  // eslint-disable-next-line no-eval -- reviewed: code is a constant from the build
  return eval(code);
}

module.exports = { run, later, reviewed, unused };
