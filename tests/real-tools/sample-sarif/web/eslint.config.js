// Flat config for the sample: a few security-relevant core rules as errors.
module.exports = [
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { setTimeout: "readonly", module: "writable" } },
    rules: {
      "no-eval": "error",
      "no-implied-eval": "error",
      "no-new-func": "error",
      "no-undef": "warn",
    },
  },
];
