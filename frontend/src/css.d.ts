// Side-effect imports of stylesheets are bundled by esbuild (package frontend).
declare module "*.css";
