using Microsoft.Extensions.Options;

namespace ScheduledPosts.Scheduling.Accounts.OAuth;

/// <summary>
/// Refreshes OAuth access tokens before they expire (<see cref="OAuthOptions.RefreshAhead"/>), every
/// <see cref="OAuthOptions.RefreshInterval"/>, so a due post seldom meets an expired token. Replicas may run it side by
/// side: each account's refresh takes its row lock and rechecks the expiry under it.
/// </summary>
public sealed partial class TokenRefresher(OAuthTokens tokens, IOptions<OAuthOptions> options, TimeProvider clock, ILogger<TokenRefresher> logger)
    : BackgroundService
{
    private const int Batch = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.RefreshInterval, clock);
        do
        {
            try
            {
                await SweepAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                Log.SweepFailed(logger, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One sweep: refreshes what is due; returns how many accounts it looked at.</summary>
    public async Task<int> SweepAsync(CancellationToken ct)
    {
        var before = clock.GetUtcNow() + options.Value.RefreshAhead;
        var due = await tokens.DueAsync(before, Batch, ct);
        foreach (string accountId in due)
        {
            await tokens.RefreshAsync(accountId, refusedAccessToken: null, expiringBefore: before, ct);
        }

        await tokens.ForgetExpiredAuthorizationsAsync(ct);
        return due.Count;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Refreshing OAuth tokens failed; trying again at the next sweep")]
        public static partial void SweepFailed(ILogger logger, Exception exception);
    }
}
