// Bundles the demo page with esbuild: @creditkit/react from this checkout's source
// (clients/react/src), React from this folder's node_modules (one copy for the page and the
// components).
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));

await build({
  entryPoints: [here("./src/main.tsx")],
  outfile: here("./public/app.js"),
  bundle: true,
  format: "esm",
  jsx: "automatic",
  minify: true,
  sourcemap: true,
  target: "es2022",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
  alias: {
    "@creditkit/react": here("../../clients/react/src/index.ts"),
    react: here("./node_modules/react"),
    "react-dom": here("./node_modules/react-dom"),
  },
});
