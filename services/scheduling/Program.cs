using ScheduledPosts.Scheduling;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddSchedulingServices();

var app = builder.Build();
app.UseServiceDefaults();
app.MapSchedulingEndpoints();
app.MapDefaultEndpoints();

await app.PrepareSchedulingAsync();
await app.RunAsync();
