using ScheduledPosts.Gateway.Dialects;
using Yarp.ReverseProxy.Forwarder;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// The first step of the proxy pipeline: when a service cannot be reached (refused, timed out, no destination),
/// YARP leaves a bare 502/503/504; give it the error envelope instead of an empty body. A request body cut off
/// for passing the size limit while it streamed through is a 413, not the 400 YARP would answer.
/// </summary>
public sealed partial class ProxyErrorEnvelope(RequestDelegate next, ILogger<ProxyErrorEnvelope> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        var error = context.GetForwarderErrorFeature();
        if (error is null || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
        {
            // Nothing failed, the response is already on its way, or the client left.
            return;
        }

        if (IsBodyTooLarge(error.Exception))
        {
            context.Response.Headers.Connection = "close";
            await GatewayErrors.Write(context, StatusCodes.Status413PayloadTooLarge, "PAYLOAD_TOO_LARGE",
                "The request body is too large for this operation.");
            return;
        }

        if (context.Response.StatusCode < StatusCodes.Status500InternalServerError)
        {
            // The client's own request was at fault: a 4xx the status-code pages already put in the envelope.
            return;
        }

        // YARP has logged the exception itself.
        Log.ForwardingFailed(logger, context.Request.Method, context.Request.Path, error.Error);
        await GatewayErrors.Write(context, context.Response.StatusCode, "UNAVAILABLE",
            "The service behind this route is unavailable; try again shortly.");
    }

    private static bool IsBodyTooLarge(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                return true;
            }
        }

        return false;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Forwarding {Method} {Path} failed: {Error}")]
        public static partial void ForwardingFailed(ILogger logger, string method, PathString path, ForwarderError error);
    }
}
