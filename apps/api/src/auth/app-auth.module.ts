import { Module } from '@nestjs/common';
import { AppAuthGuard } from './app-auth.guard';
import { AppDirectory } from './app-directory';

/**
 * The developer API's authentication with one app-key cache per process: every module whose
 * controllers use `AppAuthGuard` imports this, so the dashboard's `forget` (an app deleted, a secret
 * rotated) reaches the copy each guard reads. (A module providing its own `AppDirectory` would keep a
 * second cache that nothing clears.)
 */
@Module({
  providers: [AppDirectory, AppAuthGuard],
  exports: [AppDirectory, AppAuthGuard],
})
export class AppAuthModule {}
