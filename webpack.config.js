/**
 * Nest CLI webpack builds (one bundle per app in dist/apps/<app>/main.js), compiled by swc instead
 * of ts-loader: type checking is `tsc --noEmit` in `npm run check`, so the build only transpiles.
 * node_modules stay external, as in Nest's default config.
 */
module.exports = (options) => ({
  ...options,
  devtool: 'source-map',
  module: {
    rules: [
      {
        test: /\.ts$/,
        exclude: /node_modules/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              parser: { syntax: 'typescript', decorators: true },
              transform: { legacyDecorator: true, decoratorMetadata: true },
              target: 'es2022',
              keepClassNames: true,
            },
            module: { type: 'es6' },
            sourceMaps: true,
          },
        },
      },
    ],
  },
  plugins: (options.plugins || []).filter((p) => p.constructor.name !== 'ForkTsCheckerWebpackPlugin'),
});
