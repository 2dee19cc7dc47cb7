// esbuild bundles CSS imported from TypeScript into widget.css
declare module "*.css";
