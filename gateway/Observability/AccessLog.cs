using System.Diagnostics;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.Observability;

/// <summary>
/// One line per request at the public entry: method, path, status, duration, the request id the client sees in
/// headers and error bodies, and the key that made it (never the key itself). Health probes are left out.
/// </summary>
public sealed partial class AccessLog(RequestDelegate next, ILogger<AccessLog> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        if (path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz"))
        {
            await next(context);
            return;
        }

        long started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            Log.Request(logger, context.Request.Method, path.Value, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                RequestIds.Get(context), ApiKeyCaller.Of(context)?.KeyId ?? "-");
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Method} {Path} {Status} in {ElapsedMs:0.0} ms request {RequestId} key {KeyId}")]
        public static partial void Request(ILogger logger, string method, string? path, int status, double elapsedMs, string requestId, string keyId);
    }
}
