using ScheduledPosts.ServiceDefaults.Errors;
using Yarp.ReverseProxy.Forwarder;

namespace ScheduledPosts.Gateway.Proxy;

/// <summary>
/// The first step of the proxy pipeline: when a service cannot be reached (refused, timed out, no destination),
/// YARP leaves a bare 502/503/504; give it the error envelope instead of an empty body.
/// </summary>
public sealed class ProxyErrorEnvelope(RequestDelegate next, ILogger<ProxyErrorEnvelope> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);

        var error = context.GetForwarderErrorFeature();
        if (error is null || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested
            || context.Response.StatusCode < StatusCodes.Status500InternalServerError)
        {
            // Nothing failed, the response is already on its way, the client left, or the client's own request was
            // at fault (a 4xx the status-code pages already put in the envelope).
            return;
        }

        // YARP has logged the exception itself.
        logger.LogWarning("Forwarding {Method} {Path} failed: {Error}", context.Request.Method, context.Request.Path, error.Error);
        await ErrorEnvelope.Write(context, context.Response.StatusCode, "UNAVAILABLE",
            "The service behind this route is unavailable; try again shortly.");
    }
}
